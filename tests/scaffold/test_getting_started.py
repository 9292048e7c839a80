"""docs/getting-started.md's plugin walkthrough, run exactly as written.

The shell blocks marked ``<!-- tested -->`` are joined into one bash script and
run in a temporary home; the blocks marked ``<!-- output -->`` must appear in
what it prints. Changing the page changes this test, so the two cannot drift.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from llf_host.testing import home_environ

from .helpers import serve

DOC = Path(__file__).resolve().parents[2] / "docs" / "getting-started.md"
_BLOCK_RE = re.compile(r"<!-- (tested|output) -->\n```(\w+)\n(.*?)\n```", re.DOTALL)
PICKUP_DEADLINE_S = 15.0


def documented(marker: str) -> list[str]:
    """The bodies of the fenced blocks right after ``<!-- marker -->``."""
    return [body for kind, _lang, body in _BLOCK_RE.findall(DOC.read_text()) if kind == marker]


def script() -> str:
    return "set -euo pipefail\n" + "\n".join(documented("tested")) + "\n"


def environment(home: Path) -> dict[str, str]:
    """A temporary home, and this Python's `llf-host` and `python` first on PATH."""
    bin_dir = str(Path(sys.executable).parent)
    env = home_environ(home, {"PATH": bin_dir + os.pathsep + os.environ.get("PATH", "")})
    env.pop("PYTEST_ADDOPTS", None)
    return env


def test_the_walkthrough_is_marked_for_testing():
    commands = script()
    for needle in (
        "llf-host new tool",
        "python -m pytest",
        "llf-host plugins check",
        "llf-host plugins path",
        "llf-host tools call",
    ):
        assert needle in commands, f"{needle!r} is no longer a tested command in {DOC.name}"
    assert documented("output"), "the page shows no output the test can compare"


def test_the_documented_commands_work(tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    done = subprocess.run(
        ["bash", "-c", script()],
        cwd=work,
        env=environment(tmp_path / "home"),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.search(r"\b3 passed\b", done.stdout), done.stdout
    for expected in documented("output"):
        assert expected in done.stdout, (
            f"the page shows output the commands do not print:\n{expected}"
        )
    installed = tmp_path / "home" / "data" / "plugins" / "word-stats" / "plugin.toml"
    assert installed.is_file()


@pytest.mark.slow
async def test_a_running_serve_picks_up_the_installed_plugin(tmp_path):
    home = tmp_path / "home"
    work = tmp_path / "work"
    work.mkdir()
    async with serve(home) as client:
        before = await client.request("tools/list", timeout=30)
        assert "word_stats_stats" not in [t["name"] for t in before["tools"]]
        process = await asyncio.create_subprocess_exec(
            "bash",
            "-c",
            script(),
            cwd=work,
            env=environment(home),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        assert await asyncio.wait_for(process.wait(), 300) == 0
        deadline = asyncio.get_running_loop().time() + PICKUP_DEADLINE_S
        names: list[str] = []
        while asyncio.get_running_loop().time() < deadline:
            listed = await client.request("tools/list", timeout=30)
            names = [t["name"] for t in listed["tools"]]
            if "word_stats_stats" in names:
                break
            await asyncio.sleep(0.25)
        assert "word_stats_stats" in names
        called = await client.request(
            "tools/call", {"name": "word_stats_stats", "arguments": {"text": "a a b"}}, timeout=60
        )
        assert called["result"]["top"][0] == ["a", 2]
