"""Pure pieces: frame decoding and outcome typing, control framing, token bucket, grants."""

from __future__ import annotations

import os
import signal
import socket
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from llf_host._manifest import manifest_from_table
from llf_host._tools._grants import effective_grants
from llf_host._tools._grants import parse_destination
from llf_host._tools._limiter import TokenBucket
from llf_host._tools._settings import GrantConfig
from llf_sandbox import Limits
from llf_sandbox._outcome import FrameState
from llf_sandbox._outcome import interpret
from llf_sandbox._wire import ControlReader
from llf_sandbox._wire import encode_frame
from llf_sandbox._wire import encode_json
from llf_sandbox._wire import send_message

LIMITS = Limits(timeout_s=5, cpu_s=2)


def _exit(code: int) -> int:
    return code << 8


def _killed(signum: int) -> int:
    return signum


def _outcome(data: bytes, status: int | None, **kwargs):
    return interpret(
        tool="t",
        frame=FrameState(data=data),
        status=status,
        cpu_s=kwargs.pop("cpu_s", 0.01),
        limits=LIMITS,
        killed_for=kwargs.pop("killed_for", None),
        **kwargs,
    )


def test_a_valid_frame_and_clean_exit_is_ok():
    outcome = _outcome(encode_frame(encode_json({"ok": True, "result": [1, "x"]})), _exit(0))
    assert outcome.ok and outcome.result == [1, "x"]


def test_a_valid_frame_from_a_crashed_process_is_not_trusted():
    frame = encode_frame(encode_json({"ok": True, "result": "forged"}))
    outcome = _outcome(frame, _killed(signal.SIGSEGV))
    assert outcome.status == "crashed" and outcome.detail["signal_name"] == "SIGSEGV"


@pytest.mark.parametrize(
    ("status", "cpu", "expected", "limit"),
    [
        (_killed(signal.SIGXCPU), 2.0, "timeout", "cpu_s"),
        (_killed(signal.SIGKILL), 3.0, "timeout", "cpu_s"),
        (_exit(152), 2.0, "timeout", "cpu_s"),
        (_killed(signal.SIGXFSZ), 0.1, "resource_limit", "file_size_mb"),
    ],
)
def test_limits_are_recognised_from_the_exit_status(status, cpu, expected, limit):
    outcome = _outcome(b"", status, cpu_s=cpu)
    assert outcome.status == expected and outcome.detail["limit"] == limit


def test_a_sigkill_below_the_cpu_limit_is_a_crash():
    outcome = _outcome(b"", _killed(signal.SIGKILL), cpu_s=0.1)
    assert outcome.status == "crashed" and "memory" in outcome.hint


def test_what_the_host_did_wins():
    frame = encode_frame(encode_json({"ok": True, "result": 1}))
    assert _outcome(frame, _exit(0), killed_for="timeout").status == "timeout"
    assert _outcome(frame, _exit(0), killed_for="stdout").status == "output_too_large"


def test_nan_in_a_frame_is_not_json():
    body = b'{"ok":true,"result":NaN}'
    outcome = _outcome(encode_frame(body), _exit(0))
    assert outcome.status == "crashed" and outcome.detail["reason"] == "invalid_frame"


@given(st.binary(max_size=64))
def test_arbitrary_bytes_never_pass_as_a_result(data):
    outcome = _outcome(data, _exit(0))
    if outcome.ok:  # only possible for a genuine, complete, single frame
        length = int.from_bytes(data[:4], "big")
        assert len(data) == 4 + length


@given(st.lists(st.dictionaries(st.text(max_size=5), st.integers(), max_size=3), max_size=5))
def test_control_messages_survive_any_chunking(messages):
    stream = b"".join(encode_frame(encode_json({"op": "x", "body": m})) for m in messages)
    reader = ControlReader()
    got = []
    for start in range(0, len(stream), 7):
        reader.feed(stream[start : start + 7], [])
        got.extend(message["body"] for message, _fds in reader.messages())
    assert got == messages


def test_fds_travel_with_their_message():
    left, right = socket.socketpair()
    read_end, write_end = os.pipe()
    try:
        send_message(left, {"op": "call", "fds": 1}, [write_end])
        reader = ControlReader()
        data, ancdata, _flags, _addr = right.recvmsg(4096, ControlReader.ancillary_size())
        reader.feed(data, ancdata)
        ((message, fds),) = reader.messages()
        assert message["op"] == "call" and len(fds) == 1
        os.write(fds[0], b"through")
        assert os.read(read_end, 7) == b"through"
        os.close(fds[0])
    finally:
        for fd in (read_end, write_end):
            os.close(fd)
        left.close()
        right.close()


def test_a_forged_control_length_is_refused():
    reader = ControlReader(max_bytes=100)
    reader.feed(b"\xff\xff\xff\xff", [])
    with pytest.raises(ValueError):
        reader.messages()


def test_token_bucket():
    now = [0.0]
    bucket = TokenBucket(60, capacity=2, clock=lambda: now[0])
    assert bucket.take() == 0 and bucket.take() == 0
    assert bucket.take() == pytest.approx(1.0)
    now[0] += 1.0
    assert bucket.take() == 0


def test_limits_merge_and_defaults():
    merged = Limits().merged({"timeout_s": 3, "memory_mb": 100.0, "unknown": 1, "cpu_s": None})
    assert merged.timeout_s == 3 and merged.memory_mb == 100 and merged.effective_cpu_s == 3


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("example.org", ("example.org", None)),
        ("Example.org:443", ("example.org", 443)),
        ("*:80", ("*", 80)),
        ("host:*", ("host", None)),
        ("[::1]:8080", ("::1", 8080)),
        ("*", ("*", None)),
    ],
)
def test_parse_destination(text, expected):
    assert parse_destination(text) == expected


def _manifest(tmp_path: Path, permissions: dict, sandbox: dict | None = None):
    table = {"plugin": {"name": "p"}, "permissions": permissions, "sandbox": sandbox or {}}
    return manifest_from_table(table, path=tmp_path / "plugin.toml", root=tmp_path, source="test")


def test_manifest_grants_apply_without_config(tmp_path):
    manifest = _manifest(tmp_path, {"network": ["api.x.org:443"], "filesystem": ["data"]})
    grants = effective_grants(manifest, None)
    assert grants.network.destinations == (("api.x.org", 443),)
    assert grants.read == (str((tmp_path / "data").resolve()),)


def test_user_mode_grants_nothing_until_configured(tmp_path):
    manifest = _manifest(tmp_path, {"network": ["*:443"]}, {"grants": "user"})
    assert not effective_grants(manifest, None).network.granted
    grants = effective_grants(manifest, GrantConfig(network=["a.org:443", "b.org:80"]))
    assert grants.network.destinations == (("a.org", 443),)
    assert "b.org:80" in grants.warnings[0]


def test_filesystem_write_needs_a_write_ceiling(tmp_path):
    manifest = _manifest(tmp_path, {"filesystem": [str(tmp_path)]})
    inside = tmp_path / "inside"
    grants = effective_grants(
        manifest,
        GrantConfig(filesystem=[{"path": str(inside), "write": True}, "/elsewhere"]),
    )
    assert grants.read == (str(inside),) and grants.write == ()
    assert len(grants.warnings) == 2
