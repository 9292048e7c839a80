"""Property-based fuzzing of frames and messages against an in-process server.

Whatever arrives, the server never crashes and never hangs (each exchange ends
with end of input and must return an exit code), everything it writes is a
well-formed frame holding a JSON-RPC message, and an error comes back where
one is due.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from llf_host._rpc.framing import FrameParser
from llf_host._rpc.framing import encode_frame

from .inprocess import exchange

FUZZ = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def frame(message: Any) -> bytes:
    return encode_frame(msgspec.json.encode(message))


INIT = frame({"jsonrpc": "2.0", "id": "init", "method": "initialize", "params": {}})
SENTINEL = frame(
    {"jsonrpc": "2.0", "id": "sentinel", "method": "host/echo", "params": {"value": "ok"}}
)


def run(tmp_path: Path, data: bytes) -> list[dict[str, Any]]:
    """Initialize a fresh server, send ``data``, end the input; check the wire, return messages."""
    code, output = exchange(tmp_path, data, first=INIT)
    assert code == 0  # end of input, not a crash
    parser = FrameParser(1 << 30)
    items = parser.feed(output)
    assert parser.buffered == 0, "a partial frame was left on the wire"
    messages = []
    for item in items:
        assert isinstance(item, bytes), item
        message = msgspec.json.decode(item)
        assert message["jsonrpc"] == "2.0"
        assert ("result" in message) != ("error" in message)
        if "error" in message:
            assert isinstance(message["error"]["code"], int)
            assert isinstance(message["error"]["message"], str)
        messages.append(message)
    return messages


def replies(messages: list[dict[str, Any]], rid: Any) -> list[dict[str, Any]]:
    return [m for m in messages if m.get("id") == rid]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


@FUZZ
@given(junk=st.binary(max_size=400))
def test_arbitrary_bytes_never_crash_or_hang(tmp_path: Path, junk: bytes) -> None:
    run(tmp_path, junk)


@FUZZ
@given(
    name=st.sampled_from(["Content-Length", "content-length", "Content-Lenght", "X-Other", ""]),
    value=st.one_of(
        st.integers(min_value=-5, max_value=40).map(str),
        st.sampled_from(["abc", "", " 12 ", "1e3", "99999999999999999999", "0x10"]),
    ),
    extra=st.sampled_from(
        [
            b"",
            b"Content-Type: application/vscode-jsonrpc; charset=utf-8\r\n",
            b"Content-Type: application/json; charset=latin-1\r\n",
        ]
    ),
    body=st.binary(max_size=40),
)
def test_bad_headers_get_an_error(
    tmp_path: Path, name: str, value: str, extra: bytes, body: bytes
) -> None:
    header = f"{name}: {value}\r\n".encode() + extra + b"\r\n"
    messages = run(tmp_path, header + body)
    number = value.strip()
    valid_length = name.lower() == "content-length" and number.isdigit() and len(number) <= 18
    if not valid_length or b"latin-1" in extra:
        assert any(m.get("error", {}).get("code") == -32700 for m in messages)


bodies = st.one_of(
    st.binary(max_size=60),  # mostly invalid UTF-8 / JSON
    st.text(max_size=60).map(str.encode),
    json_values.map(msgspec.json.encode),
    st.fixed_dictionaries(
        {},
        optional={
            "jsonrpc": st.sampled_from(["2.0", "1.0", 2]),
            "id": st.one_of(st.integers(), st.text(max_size=5), st.none(), st.floats()),
            "method": st.one_of(st.sampled_from(["host/echo", "chat/complete", "x"]), json_values),
            "params": json_values,
            "result": json_values,
            "error": json_values,
        },
    ).map(msgspec.json.encode),
)


@FUZZ
@given(bodies=st.lists(bodies, min_size=1, max_size=5))
def test_well_framed_garbage_keeps_the_session_alive(tmp_path: Path, bodies: list[bytes]) -> None:
    data = b"".join(encode_frame(b) for b in bodies) + SENTINEL
    messages = run(tmp_path, data)
    assert replies(messages, "sentinel") == [
        {"jsonrpc": "2.0", "id": "sentinel", "result": {"value": "ok"}}
    ]
    for body in bodies:
        try:
            decoded = msgspec.json.decode(body)
        except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):
            assert any(
                m.get("id") is None and m.get("error", {}).get("code") == -32700 for m in messages
            )
            continue
        if not isinstance(decoded, dict):
            assert any(m.get("error", {}).get("code") == -32600 for m in messages)


params_for = {
    "host/echo": st.fixed_dictionaries({}, optional={"value": json_values, "other": json_values}),
    "chat/complete": st.fixed_dictionaries(
        {},
        optional={
            "model": json_values,
            "messages": st.one_of(
                json_values, st.lists(st.fixed_dictionaries({"role": json_values}), max_size=2)
            ),
            "stream": json_values,
            "options": json_values,
        },
    ),
    "models/list": st.fixed_dictionaries(
        {}, optional={"provider": json_values, "timeout_s": json_values}
    ),
}


@FUZZ
@given(
    calls=st.lists(
        st.sampled_from(sorted(params_for)).flatmap(
            lambda m: st.tuples(st.just(m), st.one_of(params_for[m], json_values))
        ),
        min_size=1,
        max_size=6,
    )
)
def test_wrong_param_types_get_one_answer_each(
    tmp_path: Path, calls: list[tuple[str, Any]]
) -> None:
    data = b""
    for i, (method, params) in enumerate(calls):
        data += frame({"jsonrpc": "2.0", "id": i, "method": method, "params": params})
    messages = run(tmp_path, data + SENTINEL)
    for i, (_method, params) in enumerate(calls):
        answer = replies(messages, i)
        assert len(answer) == 1
        if "error" in answer[0]:
            code = answer[0]["error"]["code"]
            assert code == -32602 or -31999 <= code <= -31000, answer
            if code == -32602:
                assert answer[0]["error"]["data"]["field"]
        else:
            assert isinstance(params, dict | None) or params == []
    assert len(replies(messages, "sentinel")) == 1


def test_deeply_nested_json_is_a_parse_error(tmp_path: Path) -> None:
    deep = b'{"jsonrpc":"2.0","id":1,"method":"host/echo","params":{"value":' + b"[" * 100_000
    deep += b"]" * 100_000 + b"}}"
    messages = run(tmp_path, encode_frame(deep) + SENTINEL)
    assert any(m.get("error", {}).get("code") == -32700 for m in messages)
    assert len(replies(messages, "sentinel")) == 1


def test_batches_are_refused_clearly(tmp_path: Path) -> None:
    batch = msgspec.json.encode([{"jsonrpc": "2.0", "id": 1, "method": "host/echo"}])
    messages = run(tmp_path, encode_frame(batch))
    errors = [m["error"] for m in messages if "error" in m]
    assert errors[0]["code"] == -32600
    assert "batches are not supported" in errors[0]["data"]["hint"]


def test_garbage_glued_before_a_header_is_skipped(tmp_path: Path) -> None:
    messages = run(tmp_path, b"noise" + SENTINEL)
    assert len(replies(messages, "sentinel")) == 1
    assert any(m.get("error", {}).get("code") == -32700 for m in messages)
