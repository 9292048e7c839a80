"""A first end-to-end check: a drop-in plugin loads and its provider chats."""

from __future__ import annotations

import textwrap
from pathlib import Path

from llf_host import ChatRequest
from llf_host import Message
from llf_host._chat import stream_chat


def write_plugin(root: Path) -> Path:
    plugin = root / "echo"
    plugin.mkdir()
    (plugin / "plugin.toml").write_text('[plugin]\nname = "echo"\nversion = "1.0"\n')
    (plugin / "plugin.py").write_text(
        textwrap.dedent(
            """
            from llf_host import hookimpl
            from llf_host.testing import MockProvider

            @hookimpl
            def llf_providers():
                return MockProvider("echo")
            """
        )
    )
    return plugin


async def test_drop_in_provider_chats(tmp_path, make_host):
    host = await make_host(plugins=[write_plugin(tmp_path)])
    assert host.plugins["echo"].status == "ok"
    result = await stream_chat(
        host.registry,
        ChatRequest(model="echo/echo", messages=[Message(role="user", content="hello there")]),
    )
    assert result.message.content == "hello there"
    assert result.usage.completion_tokens == 2
    assert result.timings.total_ms is not None
