"""`llf-host new` on a terminal asks for what is missing (driven through a real pty)."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time

from llf_host.testing import home_environ


class Terminal:
    """A process on a pseudo-terminal: wait for text, type answers. Bounded by deadlines."""

    def __init__(self, args: list[str], *, env: dict[str, str], cwd: str) -> None:
        self.master, slave = pty.openpty()
        self.process = subprocess.Popen(
            args, stdin=slave, stdout=slave, stderr=slave, env=env, cwd=cwd, close_fds=True
        )
        os.close(slave)
        self.output = ""

    def expect(self, text: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.output:
            left = deadline - time.monotonic()
            assert left > 0, f"never saw {text!r}; output so far:\n{self.output}"
            ready, _, _ = select.select([self.master], [], [], left)
            if ready:
                try:
                    chunk = os.read(self.master, 4096)
                except OSError:  # the child closed the terminal
                    chunk = b""
                assert chunk, f"the process ended before {text!r}; output:\n{self.output}"
                self.output += chunk.decode(errors="replace")

    def type(self, line: str) -> None:
        os.write(self.master, line.encode() + b"\r")

    def finish(self, timeout: float = 30) -> int:
        """Read what is left until the process closes the terminal; its exit code."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.master], [], [], 0.2)
            if not ready:
                if self.process.poll() is not None:
                    break
                continue
            try:
                chunk = os.read(self.master, 4096)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            self.output += chunk.decode(errors="replace")
        code = self.process.wait(timeout=timeout)
        os.close(self.master)
        return code


def test_missing_arguments_are_asked_for_and_bad_names_asked_again(tmp_path):
    env = home_environ(tmp_path / "home", {"TERM": "dumb", "NO_COLOR": "1"})
    term = Terminal([sys.executable, "-m", "llf_host._cli", "new"], env=env, cwd=str(tmp_path))
    try:
        term.expect("Kind")
        assert "[tool]" in term.output  # the default
        term.type("exporter")
        term.expect("Name")
        term.type("Bad Name")
        term.expect("is not a valid plugin name")
        term.expect("Name")
        term.type("notes-csv")
        term.expect("Description")
        term.type("Notes as CSV rows")
        code = term.finish()
    finally:
        if term.process.poll() is None:
            term.process.kill()
            term.process.wait(timeout=10)
    assert code == 0, term.output
    assert "created exporter plugin 'notes-csv'" in term.output
    manifest = (tmp_path / "notes-csv" / "plugin.toml").read_text()
    assert 'description = "Notes as CSV rows"' in manifest
