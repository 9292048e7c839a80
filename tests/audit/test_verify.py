"""``verify`` finds every kind of tampering, and says on which line."""

from __future__ import annotations

import hashlib
import itertools
import json
import shutil
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from llf_host._audit_log import canonical
from llf_host._audit_log import head_path
from llf_host._audit_log import record_hash
from llf_host._audit_log import verify_log

from .helpers import records
from .helpers import write_log

EVENTS = 25


@pytest.fixture(scope="module")
def valid_log(tmp_path_factory) -> Path:
    path = write_log(tmp_path_factory.mktemp("home"), EVENTS)
    report = verify_log(path)
    assert report.ok, report.problems
    return path


@pytest.fixture
def log(valid_log, tmp_path) -> Path:
    """A private copy of the valid log and its head."""
    copy = tmp_path / "audit.jsonl"
    shutil.copy(valid_log, copy)
    shutil.copy(head_path(valid_log), head_path(copy))
    return copy


def lines_of(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True)


def first_problem(path: Path):
    report = verify_log(path)
    assert not report.ok
    return report.problems[0]


def test_the_written_log_is_a_valid_chain(valid_log):
    written = records(valid_log)
    assert [r["seq"] for r in written] == list(range(1, len(written) + 1))
    assert written[0]["prev"] == "0" * 64
    assert [r["kind"] for r in written][:2] == ["plugin.load", "host.start"]
    assert written[-1]["kind"] == "host.stop"
    assert sum(r["kind"] == "test.event" for r in written) == EVENTS
    for before, after in itertools.pairwise(written):
        assert after["prev"] == before["hash"]
    line = valid_log.read_text().splitlines()[3]
    record = json.loads(line)
    assert canonical(record) == line
    body = canonical({k: v for k, v in record.items() if k != "hash"})
    assert record["hash"] == hashlib.sha256(body.encode()).hexdigest() == record_hash(record)
    head = json.loads(head_path(valid_log).read_text())
    assert head == {"seq": written[-1]["seq"], "hash": written[-1]["hash"]}


def test_each_kind_of_tampering(log):
    original = lines_of(log)
    n = len(original)

    def check(lines: list[bytes], line: int, kind: str) -> None:
        log.write_bytes(b"".join(lines))
        problem = first_problem(log)
        assert (problem.line, problem.kind) == (line, kind), verify_log(log).problems

    edited = original.copy()
    edited[4] = edited[4].replace(b'"index":2', b'"index":3')
    check(edited, 5, "edited")

    reformatted = original.copy()
    reformatted[4] = json.dumps(json.loads(reformatted[4])).encode() + b"\n"
    check(reformatted, 5, "edited")

    check(original[:6] + original[7:], 7, "missing")
    check([*original[:6], original[7], original[6], *original[8:]], 7, "missing")
    check([*original[:6], original[3], *original[6:]], 7, "out_of_order")
    check(original[:-3], n - 2, "truncated")
    check([*original[:-1], original[-1][:40]], n, "partial")
    check(original[1:], 1, "missing")

    forged = json.loads(original[9])
    forged["data"] = {"forged": True}
    forged["hash"] = record_hash(forged)
    rehashed = original.copy()
    rehashed[9] = (canonical(forged) + "\n").encode()
    check(rehashed, 11, "broken_link")

    last = json.loads(original[-1])
    last["data"] = {"forged": True}
    last["hash"] = record_hash(last)
    check([*original[:-1], (canonical(last) + "\n").encode()], n, "head_mismatch")

    appended = dict(last, seq=last["seq"] + 1, prev=json.loads(original[-1])["hash"])
    appended["hash"] = record_hash(appended)
    check([*original, (canonical(appended) + "\n").encode()], n + 1, "beyond_head")


def test_a_missing_head_is_a_warning_not_a_failure(log):
    head_path(log).unlink()
    report = verify_log(log)
    assert report.ok and report.warnings


def apply(lines: list[bytes], change: tuple) -> tuple[list[bytes], int]:
    """The tampered lines and the line where verify must report the first problem."""
    kind, a, b, payload = change
    n = len(lines)
    if kind == "edit":
        i = a % n
        line = lines[i]
        pos = b % (len(line) - 1)  # never the newline itself
        replacement = payload if payload != line[pos : pos + 1] else b"#"
        if replacement == b"\n" or replacement == line[pos : pos + 1]:
            replacement = b"~" if line[pos : pos + 1] != b"~" else b"!"
        return [*lines[:i], line[:pos] + replacement + line[pos + 1 :], *lines[i + 1 :]], i + 1
    if kind == "delete":
        i = a % n
        return lines[:i] + lines[i + 1 :], i + 1
    if kind == "swap":
        i, j = sorted((a % n, b % n))
        if i == j:
            j = (i + 1) % n
            i, j = sorted((i, j))
        swapped = lines.copy()
        swapped[i], swapped[j] = swapped[j], swapped[i]
        return swapped, i + 1
    if kind == "duplicate":
        i = a % (n + 1)
        j = b % n
        copied = [*lines[:i], lines[j], *lines[i:]]
        # A copy placed just before its original reads fine until the original.
        return copied, i + 2 if j == i else i + 1
    # truncate to a byte count strictly inside the file
    data = b"".join(lines)
    cut = a % len(data)
    kept = data[:cut]
    return kept.splitlines(keepends=True), kept.count(b"\n") + 1


changes = st.tuples(
    st.sampled_from(["edit", "delete", "swap", "duplicate", "truncate"]),
    st.integers(0, 10**6),
    st.integers(0, 10**6),
    st.binary(min_size=1, max_size=1),
)


@settings(max_examples=250)
@given(change=changes)
def test_random_tampering_is_always_detected_at_the_right_line(valid_log, tmp_path_factory, change):
    folder = tmp_path_factory.mktemp("tamper")
    log = folder / "audit.jsonl"
    shutil.copy(head_path(valid_log), head_path(log))
    tampered, expected_line = apply(lines_of(valid_log), change)
    log.write_bytes(b"".join(tampered))
    report = verify_log(log)
    assert not report.ok, change
    assert report.problems[0].line == expected_line, (change, report.problems)
