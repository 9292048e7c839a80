"""A generated plugin dropped into a running serve's plugins folder is picked up."""

from __future__ import annotations

import asyncio
import shutil

import pytest

from .helpers import NAMES
from .helpers import module_of
from .helpers import serve

#: How long the watcher may take to notice (debounce included) before the test gives up.
PICKUP_DEADLINE_S = 15.0


@pytest.mark.slow
async def test_a_dropped_in_tool_is_loaded_without_restart(tmp_path, dropins):
    watched = tmp_path / "plugins"
    watched.mkdir()
    tool_name = f"{module_of('tool')}_stats"
    async with serve(tmp_path / "home", plugins_dirs=(watched,)) as client:
        changes: asyncio.Queue[dict] = asyncio.Queue()
        client.on_notification("plugins/didChange", changes.put_nowait)
        before = await client.request("tools/list", timeout=30)
        assert tool_name not in [t["name"] for t in before["tools"]]

        shutil.copytree(dropins["tool"], watched / NAMES["tool"])

        change = await asyncio.wait_for(changes.get(), PICKUP_DEADLINE_S)
        assert {"plugin": NAMES["tool"]}.items() <= change["changes"][0].items()
        called = await client.request(
            "tools/call", {"name": tool_name, "arguments": {"text": "hot hot load"}}, timeout=60
        )
        assert called["result"]["top"][0] == ["hot", 2]
