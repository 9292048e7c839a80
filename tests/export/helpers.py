"""Shared by the export tests: the plugins, sample conversations, id-free comparison."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import Any

import msgspec

from llf_host import Conversation
from llf_host import ConversationExport
from llf_host import Exporter
from llf_host import FunctionCall
from llf_host import Message
from llf_host import StoredMessage
from llf_host import Timings
from llf_host import ToolCall
from llf_host import Usage
from llf_host.testing import isolated_host

ROOT = Path(__file__).resolve().parents[2]
EXPORTERS = ROOT / "plugins" / "exporters"
SQLITE = ROOT / "plugins" / "sqlite_memory"
MEM_BACKEND = Path(__file__).resolve().parent / "plugins" / "mem_backend"
SCHEMA = EXPORTERS / "schema" / "llf-host-export-v1.schema.json"

T0 = 1714560000.0  # 2024-05-01 10:40:00 UTC


def load_exporters() -> dict[str, Exporter]:
    """The exporter objects of the built-in plugin, loaded by a real host."""

    async def load() -> dict[str, Exporter]:
        with tempfile.TemporaryDirectory() as home:
            async with isolated_host(Path(home), plugins=[EXPORTERS]) as host:
                assert host.plugins["exporters"].status == "ok", host.plugins["exporters"].error
                return {name: entry.obj for name, entry in host.registry.exporters.items()}

    return asyncio.run(load())


def export_sync(
    exporter: Exporter, conversations: list[ConversationExport], **options: Any
) -> bytes:
    """Run one export outside any event loop (for hypothesis tests)."""
    return asyncio.run(exporter.export(conversations, options))


def msg(
    mid: str,
    role: str,
    content: str | None,
    *,
    parent: str | None = None,
    at: float = 0.0,
    **extra: Any,
) -> StoredMessage:
    message_fields = {
        k: extra.pop(k) for k in ("tool_calls", "tool_call_id", "name", "reasoning") if k in extra
    }
    return StoredMessage(
        id=mid,
        conversation_id="c1",
        message=Message(role=role, content=content, **message_fields),  # type: ignore[arg-type]
        parent_id=parent,
        created_at=T0 + at,
        **extra,
    )


def sample() -> ConversationExport:
    """A conversation with a system prompt, markup in content, a tool call and two branches.

    Tree: m1 system -> m2 user -> m3 assistant(tool call) -> m4 tool -> m5 assistant (leaf)
                                \\-> m6 assistant (other branch)
    """
    messages = [
        msg("m1", "system", "You are terse.", at=0),
        msg(
            "m2",
            "user",
            "# Not a heading\n<script>document.body.dataset.pwned = 1</script>\n"
            "| a | b |\n|---|---|\n```python\nprint('hi')\n```\n* not a list",
            parent="m1",
            at=1,
            metadata={"client": "test"},
        ),
        msg(
            "m3",
            "assistant",
            None,
            parent="m2",
            at=2,
            model="mock/echo",
            usage=Usage(prompt_tokens=12, completion_tokens=3, total_tokens=15),
            timings=Timings(total_ms=1234.0),
            cost=0.0004,
            tool_calls=[
                ToolCall(id="call_1", function=FunctionCall("get_weather", '{"city": "Paris"}'))
            ],
        ),
        msg("m4", "tool", '{"temp_c": 21}', parent="m3", at=3, tool_call_id="call_1"),
        msg("m5", "assistant", "It is 21 °C in Paris. ☀️", parent="m4", at=4, model="mock/echo"),
        msg("m6", "assistant", "A different answer on another branch.", parent="m2", at=5),
    ]
    conversation = Conversation(
        id="c1",
        title="Weather & <friends>",
        current_leaf_id="m5",
        created_at=T0,
        updated_at=T0 + 5,
        message_count=len(messages),
        metadata={"project": "demo"},
    )
    return ConversationExport(conversation=conversation, messages=messages)


def without_ids(document: dict[str, Any]) -> dict[str, Any]:
    """An export document with conversation and message ids replaced by their order.

    Backends give imported conversations new ids, so a round trip is compared
    up to a consistent renaming: parents, current leaves and branches must map
    exactly. ``exported_at`` and the ``imported_from`` note are dropped.
    """
    doc = msgspec.json.decode(msgspec.json.encode(document))
    doc.pop("exported_at", None)
    for index, item in enumerate(doc["conversations"]):
        names: dict[str, str] = {}
        for position, message in enumerate(item["messages"]):
            names[message["id"]] = f"m{position}"
        conversation = item["conversation"]
        conversation["id"] = f"c{index}"
        conversation.get("metadata", {}).pop("imported_from", None)
        if not conversation.get("metadata"):
            conversation.pop("metadata", None)
        if conversation.get("current_leaf_id") is not None:
            conversation["current_leaf_id"] = names.get(conversation["current_leaf_id"], "?")
        for message in item["messages"]:
            message["id"] = names[message["id"]]
            message["conversation_id"] = f"c{index}"
            if message.get("parent_id") is not None:
                message["parent_id"] = names.get(message["parent_id"], "?")
    return doc
