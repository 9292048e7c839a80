"""``llf-host audit verify|tail|search`` as a user runs them."""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import threading
import time

import pytest

from llf_host.testing import home_environ

from .helpers import log_file
from .helpers import write_log


def llf(home, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "llf_host._cli", "audit", *args],
        env=home_environ(home),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    home = tmp_path_factory.mktemp("home")
    write_log(home, 12)
    return home


def test_verify_an_intact_log(home):
    done = llf(home, "verify")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("ok: 15 records, chain intact up to the head (last seq 15")
    assert llf(home, "path").stdout.strip() == str(log_file(home))


def test_verify_names_the_line_of_each_problem(home, tmp_path):
    lines = log_file(home).read_bytes().splitlines(keepends=True)
    tampered = tmp_path / "audit.jsonl"
    tampered.write_bytes(
        b"".join([*lines[:4], lines[4].replace(b"event 2", b"event X"), *lines[6:]])
    )
    (tmp_path / "audit.jsonl.head").write_bytes(
        (log_file(home).parent / "audit.jsonl.head").read_bytes()
    )
    done = llf(home, "verify", "--file", str(tampered))
    assert done.returncode == 1
    assert "TAMPERED" in done.stderr
    assert done.stdout.splitlines() == [
        "line 5: edited: record (seq 5, test.event) does not match its hash: it was changed",
        "line 6: missing: expected seq 6, found 7: seq 6 deleted or moved before this line",
    ]
    report = json.loads(llf(home, "verify", "--file", str(tampered), "--json").stdout)
    assert [(p["line"], p["kind"]) for p in report["problems"]] == [(5, "edited"), (6, "missing")]


def test_tail_and_search(home):
    tail = llf(home, "tail", "-n", "3").stdout.splitlines()
    assert len(tail) == 3
    assert " #13 test.event [tests]  index=10 nested=" in tail[0]
    assert tail[-1].split()[2] == "host.stop"
    found = llf(home, "search", "--kind", "plugin.*", "--json").stdout.splitlines()
    assert [json.loads(line)["kind"] for line in found] == ["plugin.load"]
    by_plugin = llf(home, "search", "--plugin", "tests", "--text", "event 7").stdout.splitlines()
    assert len(by_plugin) == 1 and "index=7" in by_plugin[0]
    assert llf(home, "search", "--since", "1h", "--kind", "test.event").stdout.count("\n") == 12
    assert llf(home, "search", "--until", "2000-01-01").stdout == ""
    bad = llf(home, "search", "--since", "last tuesday")
    assert bad.returncode == 1 and "--since" in bad.stderr


def test_a_missing_log_is_explained(tmp_path):
    done = llf(tmp_path, "verify")
    assert done.returncode == 1 and "no audit log" in done.stderr and "fix:" in done.stderr


def test_tail_follow_prints_new_records(tmp_path):
    home = tmp_path / "home"
    write_log(home, 1)
    with subprocess.Popen(
        [sys.executable, "-m", "llf_host._cli", "audit", "tail", "-n", "0", "-f"],
        env=home_environ(home),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    ) as follower:
        reader: threading.Thread | None = None
        try:
            time.sleep(0.5)  # not a threshold: only lets the follower reach the end of the file
            write_log(home, 2)  # a second host run appends to the same log
            lines: queue.Queue[str] = queue.Queue()
            assert follower.stdout is not None
            reader = threading.Thread(
                target=lambda: [lines.put(line) for line in follower.stdout], daemon=True
            )
            reader.start()
            seen: list[str] = []
            while not any("host.stop" in line for line in seen):
                seen.append(lines.get(timeout=60))
            kinds = [line.split()[2] for line in seen]
            assert kinds[0] == "plugin.load" and "test.event" in kinds and kinds[-1] == "host.stop"
        finally:
            follower.terminate()
            follower.wait(timeout=30)
            if reader is not None:
                reader.join(timeout=30)
