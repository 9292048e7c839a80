"""The Node.js example client works against a real server (skipped without node)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from llf_host import __version__

from .conftest import serve_environ

SCRIPT = Path(__file__).resolve().parents[2] / "examples" / "clients" / "node_client.mjs"


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_node_client_lists_and_streams(serve_home: Path) -> None:
    env = serve_environ(serve_home)
    env["LLF_HOST_COMMAND"] = json.dumps([sys.executable, "-m", "llf_host._cli"])
    done = subprocess.run(
        ["node", str(SCRIPT), "mock/echo", "streamed", "from", "node"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == f"server: llf-host {__version__}"
    assert "mock/echo" in lines[1]
    assert "unavailable: broken" in done.stdout
    assert "chat (mock/echo): streamed from node" in done.stdout
    assert 'final: "streamed from node"' in done.stdout
    assert "server exited with 0" in done.stdout
