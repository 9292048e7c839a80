"""The console script's exit codes: what shells and scripts rely on."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

SCRIPT = [sys.executable, "-c", "from llf_host._cli import main; main()"]


def run(args: list[str], tmp_path, **kwargs):  # type: ignore[no-untyped-def]
    env = {**os.environ, "LLF_HOST_HOME": str(tmp_path / "home")}
    return subprocess.run(
        [*SCRIPT, *args], capture_output=True, text=True, env=env, timeout=60, **kwargs
    )


def test_success_is_0(tmp_path):
    done = run(["--help"], tmp_path)
    assert done.returncode == 0
    assert "Usage:" in done.stdout


def test_a_usage_error_is_2_and_says_what_was_wrong(tmp_path):
    done = run(["--no-such-option"], tmp_path)
    assert done.returncode == 2
    assert "No such option" in done.stderr


def test_a_refused_input_is_1_and_says_what_to_do(tmp_path):
    env = {**os.environ, "LLF_HOST_HOME": str(tmp_path / "home"), "LLF_HOST_PASSPHRASE": "x"}
    done = subprocess.run(
        [*SCRIPT, "keys", "set", "openai"],
        input="",
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert done.returncode == 1
    assert "is empty; nothing was stored" in done.stderr


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_ctrl_c_is_130(tmp_path):
    env = {**os.environ, "LLF_HOST_HOME": str(tmp_path / "home"), "LLF_HOST_PASSPHRASE": "x"}
    # Waits at the secret prompt, reading a pipe that never delivers.
    proc = subprocess.Popen(
        [*SCRIPT, "keys", "set", "openai"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with open(f"/proc/{proc.pid}/wchan", encoding="ascii") as handle:
                waiting = handle.read().strip()
            if "pipe" in waiting:  # blocked reading stdin (name varies by kernel)
                break
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 130
    assert "interrupted" in err
