"""Fixtures for the sandbox tests: hosts with the hostile and friendly test plugins."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import pytest

from llf_host._tools import get_tool_runner
from llf_host.testing import isolated_host

PLUGINS = Path(__file__).parent / "plugins"


def processes_with_comm(marker: str) -> list[int]:
    """Live (non-zombie) pids whose /proc/PID/comm (or cmdline) contains ``marker``."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/comm", "rb") as handle:
                comm = handle.read().decode(errors="replace")
            with open(f"/proc/{entry}/cmdline", "rb") as handle:
                cmdline = handle.read().decode(errors="replace")
            with open(f"/proc/{entry}/stat", "rb") as handle:
                state = handle.read().decode(errors="replace").rpartition(")")[2].split()[0]
        except (OSError, IndexError):
            continue
        if state in ("Z", "X"):
            continue
        if marker[:15] in comm or marker in cmdline:
            found.append(int(entry))
    return found


@pytest.fixture
def marker() -> str:
    return "llfatk" + secrets.token_hex(4)


@pytest.fixture
async def hostile(tmp_path):
    async with isolated_host(tmp_path / "home", plugins=[PLUGINS / "hostile"]) as host:
        yield host, get_tool_runner(host)


@pytest.fixture
def friendly_dirs(tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    return shared


@pytest.fixture
async def friendly(tmp_path, friendly_dirs):
    config = {
        "sandbox": {
            "grants": {"friendly": {"filesystem": [{"path": str(friendly_dirs), "write": True}]}},
            "tools": {
                "limited": {"rate_per_minute": 6},
                "guarded": {"confirm": True},
            },
        }
    }
    async with isolated_host(
        tmp_path / "home", plugins=[PLUGINS / "friendly"], config=config
    ) as host:
        yield host, get_tool_runner(host)
