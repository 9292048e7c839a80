"""``conversations/*``, ``memory/*`` and ``trash/*``: handlers directly, then over ``serve``."""

from __future__ import annotations

import asyncio
import subprocess
import textwrap
from collections.abc import Awaitable
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import pytest

from llf_host import ConversationNotFoundError
from llf_host import Host
from llf_host import MemoryStoreError
from llf_host._rpc.dispatcher import InvalidParams
from llf_host._rpc.methods import memory as memory_methods
from llf_host._rpc.registry import METHODS
from llf_host.client import AsyncClient
from llf_host.client import InvalidParamsError
from llf_host.testing import home_environ

from .conftest import PLUGIN_DIR

MakeHost = Callable[..., Awaitable[Host]]
FAMILY = sorted(n for n, s in METHODS.items() if s.handler.__module__ == memory_methods.__name__)


class FakeContext:
    """What a handler may use of a request context; nothing streams here."""

    def __init__(self, host: Host) -> None:
        self.host = host
        self.request_id = 1
        self.client_info: dict[str, Any] = {"name": "test"}

    async def progress(self, token: str | int, value: Any) -> None:
        raise AssertionError("memory methods do not stream")

    async def notify(self, method: str, params: Any) -> None:
        raise AssertionError("memory methods do not notify")

    async def request_client(
        self, method: str, params: Any, *, timeout: float | None = None
    ) -> Any:
        raise AssertionError("memory methods do not ask the client")


@pytest.fixture
async def call(make_host: MakeHost) -> Callable[..., Awaitable[Any]]:
    host = await make_host(plugins=[PLUGIN_DIR])
    ctx = FakeContext(host)

    async def invoke(method: str, params: dict[str, Any] | None = None) -> Any:
        spec = METHODS[method]
        decoded = msgspec.convert(params or {}, spec.params)
        result = await spec.handler(ctx, decoded)
        return msgspec.to_builtins(result)

    return invoke


def test_the_family_is_complete() -> None:
    assert (
        sorted(
            [
                *(f"conversations/{m}" for m in ("create", "list", "get", "history", "tree")),
                *(f"conversations/{m}" for m in ("branches", "switch", "edit", "append")),
                *(f"conversations/{m}" for m in ("delete", "restore", "search")),
                *(f"memory/{m}" for m in ("add", "get", "list", "delete", "search")),
                *(f"trash/{m}" for m in ("list", "restore", "empty", "purge")),
            ]
        )
        == FAMILY
    )
    for name in FAMILY:
        assert METHODS[name].doc, f"{name} has no docstring"


async def test_conversation_lifecycle(call: Callable[..., Awaitable[Any]]) -> None:
    conv = await call("conversations/create", {"title": "trip", "metadata": {"k": 1}})
    cid = conv["id"]
    q = await call(
        "conversations/append",
        {"conversation_id": cid, "message": {"role": "user", "content": "train to Lyon?"}},
    )
    a = await call(
        "conversations/append",
        {
            "conversation_id": cid,
            "message": {"role": "assistant", "content": "TGV from Paris, 2h."},
            "model": "mock/echo",
            "usage": {"total_tokens": 9},
            "cost": 0.001,
        },
    )
    assert a["parent_id"] == q["id"] and a["usage"] == {"total_tokens": 9}
    edited = await call("conversations/edit", {"message_id": q["id"], "content": "train to Nice?"})
    history = await call("conversations/history", {"conversation_id": cid})
    assert [m["message"]["content"] for m in history["messages"]] == ["train to Nice?"]
    branches = await call("conversations/branches", {"conversation_id": cid})
    assert branches["current_leaf_id"] == edited["id"]
    assert [b["id"] for b in branches["branches"]] == [a["id"], edited["id"]]
    switched = await call("conversations/switch", {"conversation_id": cid, "leaf_id": a["id"]})
    assert switched["current_leaf_id"] == a["id"] and switched["message_count"] == 3
    tree = await call("conversations/tree", {"conversation_id": cid})
    assert tree["conversation"]["title"] == "trip" and len(tree["messages"]) == 3
    older = await call("conversations/history", {"conversation_id": cid, "leaf_id": a["id"]})
    assert len(older["messages"]) == 2
    listed = await call("conversations/list", {"limit": 5})
    assert [c["id"] for c in listed["conversations"]] == [cid]
    assert (await call("conversations/get", {"conversation_id": cid}))["metadata"] == {"k": 1}

    hits = (await call("conversations/search", {"text": "TGV", "highlight_start": "<"}))["hits"]
    assert hits[0]["id"] == a["id"] and "<TGV]" in hits[0]["snippet"]

    await call("conversations/delete", {"conversation_id": cid, "message_id": q["id"]})
    (item,) = (await call("trash/list"))["items"]
    assert (item["kind"], item["id"], item["count"]) == ("message", q["id"], 2)
    restored = await call("conversations/restore", {"conversation_id": cid, "message_id": q["id"]})
    assert restored["message_count"] == 3
    await call("conversations/delete", {"conversation_id": cid})
    with pytest.raises(ConversationNotFoundError):
        await call("conversations/get", {"conversation_id": cid})
    await call("conversations/restore", {"conversation_id": cid})
    await call("conversations/delete", {"conversation_id": cid})
    assert await call("trash/empty") == {"purged": 1}
    assert (await call("trash/list"))["items"] == []


async def test_memories(call: Callable[..., Awaitable[Any]]) -> None:
    fact = await call("memory/add", {"content": "allergic to peanuts", "tags": ["health"]})
    await call("memory/add", {"content": "likes jazz", "tags": ["music"], "source": "chat"})
    assert (await call("memory/get", {"memory_id": fact["id"]}))["content"] == (
        "allergic to peanuts"
    )
    only = await call("memory/list", {"tags": ["health"]})
    assert [m["id"] for m in only["memories"]] == [fact["id"]]
    hits = (await call("memory/search", {"text": "peanut*"}))["hits"]
    assert [h["id"] for h in hits] == [fact["id"]] and hits[0]["kind"] == "memory"
    assert (await call("memory/search", {"text": "jazz", "tags": ["health"]}))["hits"] == []
    await call("memory/delete", {"memory_id": fact["id"]})
    assert (await call("memory/search", {"text": "peanuts"}))["hits"] == []
    await call("trash/restore", {"kind": "memory", "id": fact["id"]})
    assert len((await call("memory/list"))["memories"]) == 2
    await call("memory/delete", {"memory_id": fact["id"]})
    # Deleted just now: not older than a day.
    assert await call("trash/purge", {"older_than_days": 1}) == {"purged": 0}
    assert await call("trash/purge", {"older_than_days": 0}) == {"purged": 1}


async def test_bad_params(call: Callable[..., Awaitable[Any]]) -> None:
    with pytest.raises(InvalidParams) as info:
        await call("conversations/search", {"text": "?!"})
    assert info.value.field == "text"
    with pytest.raises(InvalidParams):
        await call("memory/add", {"content": "   "})
    with pytest.raises(msgspec.ValidationError):
        await call("conversations/list", {"limit": 0})
    with pytest.raises(msgspec.ValidationError):
        await call("trash/restore", {"kind": "planet", "id": "x"})
    one = await call("conversations/create")
    two = await call("conversations/create")
    msg = await call(
        "conversations/append",
        {"conversation_id": one["id"], "message": {"role": "user", "content": "x"}},
    )
    with pytest.raises(InvalidParams) as info:
        await call("conversations/delete", {"conversation_id": two["id"], "message_id": msg["id"]})
    assert info.value.field == "message_id"
    with pytest.raises(MemoryStoreError):
        await call("trash/restore", {"kind": "message", "id": msg["id"]})


# -- over the wire -------------------------------------------------------------------------------
MOCK_PLUGIN = """
from llf_host import hookimpl
from llf_host.testing import MockProvider

@hookimpl
def llf_providers():
    return MockProvider("mock", reply=lambda request: f"you said {len(request.messages)} things")
"""


@pytest.fixture
async def client(tmp_path: Path) -> Any:
    plugin = tmp_path / "data" / "plugins" / "mockp"
    plugin.mkdir(parents=True)
    (plugin / "plugin.toml").write_text('[plugin]\nname = "mockp"\nversion = "1.0"\n')
    (plugin / "plugin.py").write_text(textwrap.dedent(MOCK_PLUGIN))
    env = home_environ(tmp_path, {"LLF_HOST_PLUGINS": "sqlite_memory,mockp"})
    connection = await AsyncClient.spawn(env=env, stderr=subprocess.DEVNULL)
    try:
        await asyncio.wait_for(connection.initialize(), 60)
        yield connection
    finally:
        await connection.aclose()


async def test_over_serve_with_chat_on_a_stored_conversation(client: Any) -> None:
    conv = await client.request("conversations/create", {"title": "wire"}, timeout=30)
    cid = conv["id"]
    first = await client.request(
        "chat/complete",
        {
            "model": "mock/echo",
            "conversation_id": cid,
            "messages": [
                {"role": "system", "content": "be brief"},
                {"role": "user", "content": "hello"},
            ],
        },
        timeout=30,
    )
    assert first["message"]["content"] == "you said 2 things"
    # Only the new message is sent; the host sends the whole branch to the model.
    second = await client.request(
        "chat/complete",
        {
            "model": "mock/echo",
            "conversation_id": cid,
            "messages": [{"role": "user", "content": "again"}],
        },
        timeout=30,
    )
    assert second["message"]["content"] == "you said 4 things"
    history = await client.request("conversations/history", {"conversation_id": cid}, timeout=30)
    stored = history["messages"]
    assert [m["message"]["role"] for m in stored] == [
        "system",
        "user",
        "assistant",
        "user",
        "assistant",
    ]
    assert stored[-1]["model"] == "mock/echo" and stored[-1]["usage"]["completion_tokens"] == 4
    assert "total_ms" in stored[-1]["timings"]
    hits = await client.request("conversations/search", {"text": "again"}, timeout=30)
    assert hits["hits"][0]["snippet"] == "[again]"

    with pytest.raises(ConversationNotFoundError) as info:
        await client.request(
            "chat/complete",
            {"model": "mock/echo", "conversation_id": "nope", "messages": []},
            timeout=30,
        )
    assert info.value.data["plugin"] == "sqlite_memory"
    with pytest.raises(InvalidParamsError):
        await client.request("conversations/list", {"limit": "many"}, timeout=30)
    with pytest.raises(ConversationNotFoundError):
        await client.request("trash/restore", {"kind": "memory", "id": "nope"}, timeout=30)
    assert (await client.request("trash/list", timeout=30))["retention_days"] == 30


def test_every_method_is_documented_with_an_example() -> None:
    text = (Path(__file__).resolve().parents[2] / "docs" / "protocol.md").read_text()
    assert "\n## conversations/* and memory/*\n" in text
    for name in FAMILY:
        heading = f"### `{name}`"
        assert heading in text, f"{name} is not documented"
        section = text.split(heading, 1)[1].split("\n### ", 1)[0]
        assert "--> {" in section and "<-- " in section, f"{name} has no example exchange"
