"""JSON export → import → JSON export gives the same document (up to new ids).

Backends store imported conversations under new ids (the memory contract), so
documents are compared after renaming ids consistently: every parent link,
current leaf, branch, timestamp, usage figure and tool call must survive.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from pathlib import Path

import jsonschema
import msgspec
import pytest
from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from llf_host import ConversationExport
from llf_host import Host
from llf_host import MemoryStoreError
from llf_host._export import Selection
from llf_host._export import decode_export
from llf_host._export import export_conversations
from llf_host._export import import_exports
from llf_host._export import parents_first
from llf_host.testing import isolated_host

from .helpers import EXPORTERS
from .helpers import MEM_BACKEND
from .helpers import SCHEMA
from .helpers import SQLITE
from .helpers import sample
from .helpers import without_ids
from .strategies import conversation_trees

VALIDATOR = jsonschema.Draft202012Validator(json.loads(SCHEMA.read_text()))


async def round_trip(host: Host, trees: list[ConversationExport]) -> None:
    exporter = host.registry.exporter("json").obj
    first = await exporter.export(trees, {})
    document = json.loads(first)
    VALIDATOR.validate(document)
    decoded = decode_export(first)
    assert decoded == trees
    imported = await import_exports(host, decoded)
    assert [c.source_id for c in imported.conversations] == [t.conversation.id for t in trees]
    again: list[dict] = []
    for item in imported.conversations:
        result = await export_conversations(host, Selection(conversation_id=item.id), "json")
        again.extend(json.loads(result.content)["conversations"])
    second = {**document, "conversations": again}
    assert without_ids(second) == without_ids(document)


@contextlib.contextmanager
def running_host(home: Path, *plugins: Path):
    """A host on a private loop, so hypothesis can run many examples against one host."""
    loop = asyncio.new_event_loop()
    stack = contextlib.AsyncExitStack()
    host = loop.run_until_complete(
        stack.enter_async_context(isolated_host(home, plugins=[EXPORTERS, *plugins]))
    )
    try:
        yield host, loop
    finally:
        loop.run_until_complete(stack.aclose())
        loop.close()


def test_round_trip_through_the_in_memory_backend(tmp_path):
    with running_host(tmp_path, MEM_BACKEND) as (host, loop):

        @settings(max_examples=70, suppress_health_check=[HealthCheck.too_slow])
        @given(trees=st.lists(conversation_trees(), min_size=1, max_size=3))
        def check(trees):
            loop.run_until_complete(round_trip(host, trees))

        check()


def test_round_trip_through_sqlite(tmp_path):
    with running_host(tmp_path, SQLITE) as (host, loop):
        assert host.plugins["sqlite_memory"].status == "ok"

        @settings(max_examples=25, suppress_health_check=[HealthCheck.too_slow])
        @given(trees=st.lists(conversation_trees(max_messages=12), min_size=1, max_size=2))
        def check(trees):
            loop.run_until_complete(round_trip(host, trees))

        check()
        database = list((tmp_path / "data").rglob("*.db")) + list(
            (tmp_path / "data").rglob("*.sqlite*")
        )
        assert database, "the SQLite backend wrote no file"


async def test_sample_round_trip_keeps_branches_and_tool_calls(tmp_path):
    async with isolated_host(tmp_path, plugins=[EXPORTERS, MEM_BACKEND]) as host:
        await round_trip(host, [sample()])
        result = await export_conversations(host, Selection(all=True), "json")
        (item,) = json.loads(result.content)["conversations"]
        assert item["conversation"]["metadata"]["imported_from"] == "c1"
        by_content = {m["message"].get("content"): m for m in item["messages"]}
        branch = by_content["A different answer on another branch."]
        user = next(m for m in item["messages"] if m["message"]["role"] == "user")
        assert branch["parent_id"] == user["id"]
        tool_call = next(m for m in item["messages"] if m["message"].get("tool_calls"))
        assert tool_call["message"]["tool_calls"][0]["function"]["name"] == "get_weather"
        assert tool_call["usage"] == {
            "prompt_tokens": 12,
            "completion_tokens": 3,
            "total_tokens": 15,
        }


def test_decode_rejects_other_documents_with_the_field():
    with pytest.raises(MemoryStoreError) as info:
        decode_export(b'{"format": "something-else", "version": 1, "conversations": []}')
    assert info.value.data["field"] == "format"
    with pytest.raises(MemoryStoreError) as info:
        decode_export(b'{"format": "llf-host-export", "version": 2, "conversations": []}')
    assert info.value.data["field"] == "version"
    assert "upgrade" in (info.value.hint or "")
    bad = {
        "format": "llf-host-export",
        "version": 1,
        "conversations": [{"conversation": {"id": "c"}, "messages": [{"id": "m"}]}],
    }
    with pytest.raises(MemoryStoreError) as info:
        decode_export(msgspec.json.encode(bad), source="x.json")
    assert "x.json" in info.value.message
    assert info.value.data["field"].startswith("$.conversations[0].messages[0]")
    with pytest.raises(MemoryStoreError):
        decode_export(b"not json")


def test_parents_first_orders_and_rejects_broken_trees():
    tree = sample()
    shuffled = list(reversed(tree.messages))
    ordered = parents_first(shuffled)
    seen: set[str] = set()
    for message in ordered:
        assert message.parent_id is None or message.parent_id in seen
        seen.add(message.id)
    orphan = msgspec.structs.replace(tree.messages[1], parent_id="nope")
    with pytest.raises(MemoryStoreError, match="nope"):
        parents_first([orphan])
    loop_a = msgspec.structs.replace(tree.messages[0], parent_id="m2")
    with pytest.raises(MemoryStoreError, match="ancestor"):
        parents_first([loop_a, tree.messages[1]])
