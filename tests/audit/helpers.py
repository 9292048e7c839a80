"""Shared by the audit tests: the plugin, hosts that log, reading the log back."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from llf_host.testing import isolated_host

ROOT = Path(__file__).resolve().parents[2]
AUDIT_LOG = ROOT / "plugins" / "audit_log"


def log_file(home: Path) -> Path:
    """Where the audit_log plugin writes under an isolated home."""
    return home / "data" / "plugin-data" / "audit_log" / "audit.jsonl"


def records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def write_log(home: Path, events: int, **config: Any) -> Path:
    """A valid log written by the real plugin: start, ``events`` events, stop."""

    async def run() -> None:
        plugin_config = {"plugins": {"audit_log": {"batch_size": 7, **config}}}
        async with isolated_host(home, plugins=[AUDIT_LOG], config=plugin_config) as host:
            for index in range(events):
                host.audit(
                    "test.event",
                    plugin="tests",
                    index=index,
                    text=f"event {index} ünï ✓",
                    nested={"a": [1, 2.5, None, True]},
                )

    asyncio.run(run())
    return log_file(home)
