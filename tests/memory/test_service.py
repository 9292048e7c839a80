"""The host's memory service: choosing, opening and guarding the backend; chat turns; purging."""

from __future__ import annotations

import asyncio
import sqlite3
import textwrap
import time
from collections.abc import Awaitable
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from llf_host import ChatRequest
from llf_host import ConfigError
from llf_host import ConversationNotFoundError
from llf_host import Host
from llf_host import Message
from llf_host import NotAvailableError
from llf_host import PluginError
from llf_host._chat import stream_chat
from llf_host._memory import memory_service
from llf_host._memory import prepare_conversation_turn
from llf_host._memory import record_assistant
from llf_host.builtin_plugins.sqlite_memory.backend import SQLiteMemoryBackend

from .conftest import PLUGIN_DIR

MakeHost = Callable[..., Awaitable[Host]]


def in_memory_plugin(root: Path, name: str = "ram_memory") -> Path:
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "plugin.toml").write_text(f'[plugin]\nname = "{name}"\nversion = "1.0"\n')
    (folder / "plugin.py").write_text(
        textwrap.dedent(
            """
            from llf_host import hookimpl
            from llf_host.testing import InMemoryBackend, MockProvider

            @hookimpl
            def llf_memory_backends():
                return InMemoryBackend()

            @hookimpl
            def llf_providers():
                return MockProvider("mock", reply="Paris, of course")
            """
        )
    )
    return folder


def db_path(home: Path) -> Path:
    return home / "data" / "plugin-data" / "sqlite_memory" / "memory.db"


async def test_sqlite_backend_lives_in_the_plugin_data_dir(
    make_host: MakeHost, llf_home: Path
) -> None:
    host = await make_host(plugins=[PLUGIN_DIR])
    assert host.plugins["sqlite_memory"].status == "ok"
    service = memory_service(host)
    backend = await service.backend()
    assert backend.name == "sqlite" and service.plugin == "sqlite_memory"
    assert await service.backend() is backend
    assert memory_service(host) is service and host.services["memory"] is service
    await backend.create_conversation("x")
    assert db_path(llf_home).is_file()


async def test_configured_backend_is_chosen_and_opened_once(
    make_host: MakeHost, tmp_path: Path
) -> None:
    plugin = in_memory_plugin(tmp_path)
    host = await make_host(
        plugins=[PLUGIN_DIR, plugin], config={"host": {"memory_backend": "memory"}}
    )
    service = memory_service(host)
    backends = await asyncio.gather(*(service.backend() for _ in range(5)))
    assert {b.name for b in backends} == {"memory"}
    assert backends[0].opened == 1  # type: ignore[attr-defined]


async def test_unknown_backend_name_is_a_clear_error(make_host: MakeHost) -> None:
    host = await make_host(plugins=[PLUGIN_DIR], config={"host": {"memory_backend": "postgres"}})
    with pytest.raises(NotAvailableError) as info:
        await memory_service(host).backend()
    assert "sqlite" in (info.value.hint or "")


async def test_no_backend_at_all(make_host: MakeHost) -> None:
    host = await make_host()
    with pytest.raises(NotAvailableError, match="no plugin provides a memory backend"):
        await memory_service(host).backend()


async def test_invalid_memory_settings(make_host: MakeHost) -> None:
    host = await make_host(plugins=[PLUGIN_DIR], config={"memory": {"trash_retention": 3}})
    with pytest.raises(ConfigError) as info:
        memory_service(host)
    assert info.value.data["field"] == "memory"
    host2 = await make_host(plugins=[PLUGIN_DIR], config={"memory": {"trash_retention_days": -1}})
    with pytest.raises(ConfigError):
        memory_service(host2)


async def test_a_reloaded_plugin_s_backend_is_opened_again(
    make_host: MakeHost, tmp_path: Path
) -> None:
    plugin = in_memory_plugin(tmp_path)
    host = await make_host(plugins=[plugin])
    service = memory_service(host)
    first = await service.backend()
    await host.reload_plugin("ram_memory")
    second = await service.backend()
    assert second is not first and second.opened == 1  # type: ignore[attr-defined]
    # The old version is retired (closed) once its running requests finish.
    for _ in range(100):
        if first.closed:  # type: ignore[attr-defined]
            break
        await asyncio.sleep(0.02)
    assert first.closed >= 1  # type: ignore[attr-defined]


async def test_a_failing_backend_is_reported_against_its_plugin(
    make_host: MakeHost, tmp_path: Path
) -> None:
    host = await make_host(plugins=[in_memory_plugin(tmp_path)])
    service = memory_service(host)
    backend = await service.backend()

    async def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("disk on fire")

    backend.list_trash = broken  # type: ignore[method-assign]
    with pytest.raises(PluginError) as info, service.guarded("list_trash"):
        await backend.list_trash()
    assert info.value.data["plugin"] == "ram_memory"
    assert "disk on fire" in info.value.message


def _seed_old_trash(path: Path, age_days: float) -> None:
    async def seed() -> None:
        backend = SQLiteMemoryBackend(path)
        await backend.open()
        try:
            memory = await backend.add_memory("stale fact")
            fresh = await backend.add_memory("recent fact")
            await backend.delete("memory", memory.id)
            await backend.delete("memory", fresh.id)
        finally:
            await backend.aclose()
        conn = sqlite3.connect(path)
        conn.execute(
            "UPDATE memories SET deleted_at = ? WHERE content = 'stale fact'",
            (time.time() - age_days * 86400,),
        )
        conn.commit()
        conn.close()

    asyncio.run(seed())


def _record_audit(host: Host) -> list[tuple[str, dict[str, Any]]]:
    events: list[tuple[str, dict[str, Any]]] = []
    original = host.audit

    def audit(kind: str, *, plugin: str | None = None, **data: Any) -> None:
        events.append((kind, {"plugin": plugin, **data}))
        original(kind, plugin=plugin, **data)

    host.audit = audit  # type: ignore[method-assign]
    return events


def test_expired_trash_is_purged_when_the_backend_opens(llf_home: Path) -> None:
    _seed_old_trash(db_path(llf_home), age_days=31)

    async def run() -> tuple[list[str], list[tuple[str, dict[str, Any]]]]:
        from llf_host.testing import isolated_host

        async with isolated_host(llf_home, plugins=[PLUGIN_DIR]) as host:
            events = _record_audit(host)
            backend = await memory_service(host).backend()
            return [i.title for i in await backend.list_trash()], events

    titles, events = asyncio.run(run())
    assert titles == ["recent fact"]
    assert (
        events[0][0],
        {k: v for k, v in events[0][1].items() if k != "older_than"},
    ) == ("memory.purge", {"plugin": "sqlite_memory", "count": 1, "reason": "retention"})


async def test_retention_is_configurable_and_auto_purge_can_be_off(
    make_host: MakeHost, llf_home: Path
) -> None:
    _seed_old_trash_async = asyncio.to_thread(_seed_old_trash, db_path(llf_home), 3)
    await _seed_old_trash_async
    host = await make_host(plugins=[PLUGIN_DIR], config={"memory": {"auto_purge": False}})
    backend = await memory_service(host).backend()
    assert len(await backend.list_trash()) == 2
    await host.aclose()
    host2 = await make_host(plugins=[PLUGIN_DIR], config={"memory": {"trash_retention_days": 2}})
    backend2 = await memory_service(host2).backend()
    assert [i.title for i in await backend2.list_trash()] == ["recent fact"]


async def test_purge_loop_runs_and_stops_with_the_host(make_host: MakeHost, tmp_path: Path) -> None:
    host = await make_host(
        plugins=[in_memory_plugin(tmp_path)],
        config={"memory": {"purge_interval_hours": 0.5 / 3600, "trash_retention_days": 0}},
    )
    service = memory_service(host)
    backend = await service.backend()
    item = await backend.add_memory("short-lived")
    await backend.delete("memory", item.id)
    for _ in range(100):
        if not await backend.list_trash():
            break
        await asyncio.sleep(0.05)
    assert await backend.list_trash() == []
    task = service._purge_task
    assert task is not None and not task.done()
    await host.aclose()
    assert task.done()


# -- chat turns ----------------------------------------------------------------------------
async def test_a_chat_turn_continues_a_stored_conversation(
    make_host: MakeHost, tmp_path: Path
) -> None:
    host = await make_host(plugins=[PLUGIN_DIR, in_memory_plugin(tmp_path)])
    backend = await memory_service(host).backend()
    assert backend.name == "sqlite"
    conv = await backend.create_conversation("geo")
    await backend.append_message(conv.id, Message(role="system", content="be brief"))
    turn = await prepare_conversation_turn(
        host, conv.id, [Message(role="user", content="capital of France?")]
    )
    assert [m.content for m in turn.messages] == ["be brief", "capital of France?"]
    result = await stream_chat(
        host.registry, ChatRequest(model="mock/echo", messages=turn.messages)
    )
    stored = await record_assistant(host, conv.id, result, parent_id=turn.leaf_id)
    assert stored.parent_id == turn.leaf_id
    assert stored.model == "mock/echo" and stored.usage == result.usage
    assert stored.metadata["provider"] == "mock"
    history = await backend.history(conv.id)
    assert [(m.message.role, m.message.content) for m in history] == [
        ("system", "be brief"),
        ("user", "capital of France?"),
        ("assistant", "Paris, of course"),
    ]
    # The next turn sends only the new message and gets the whole history back.
    turn2 = await prepare_conversation_turn(
        host, conv.id, [Message(role="user", content="and Spain?")]
    )
    assert [m.content for m in turn2.messages][-2:] == ["Paris, of course", "and Spain?"]


async def test_a_turn_on_an_unknown_conversation_fails_cleanly(make_host: MakeHost) -> None:
    host = await make_host(plugins=[PLUGIN_DIR])
    with pytest.raises(ConversationNotFoundError) as info:
        await prepare_conversation_turn(host, "nope", [Message(role="user", content="hi")])
    assert info.value.data["plugin"] == "sqlite_memory"
