"""What only the SQLite backend promises: the file, its pragmas, purge, errors, concurrency."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import stat
from collections.abc import Awaitable
from collections.abc import Callable
from pathlib import Path

import pytest

from llf_host import MemoryStoreError
from llf_host import Message
from llf_host import SearchQuery
from llf_host.builtin_plugins.sqlite_memory.backend import SQLiteMemoryBackend
from llf_host.builtin_plugins.sqlite_memory.search import fts_expression

Factory = Callable[..., Awaitable[SQLiteMemoryBackend]]


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def test_database_files_are_private(tmp_path: Path, sqlite_factory: Factory) -> None:
    old_umask = os.umask(0o022)
    try:
        path = tmp_path / "deep" / "memory.db"
        backend = await sqlite_factory(path)
        conv = await backend.create_conversation()
        await backend.append_message(conv.id, Message(role="user", content="private"))
    finally:
        os.umask(old_umask)
    assert mode(path) == 0o600
    assert mode(path.parent) == 0o700
    for suffix in ("-wal", "-shm"):
        assert mode(path.with_name(path.name + suffix)) == 0o600


async def test_a_world_readable_file_is_tightened(tmp_path: Path, sqlite_factory: Factory) -> None:
    path = tmp_path / "memory.db"
    path.touch()
    path.chmod(0o644)
    await sqlite_factory(path)
    assert mode(path) == 0o600


async def test_pragmas(sqlite_backend: SQLiteMemoryBackend) -> None:
    async with sqlite_backend.db.read() as conn:
        values = {}
        for pragma in ("journal_mode", "foreign_keys", "busy_timeout", "synchronous"):
            rows = await conn.execute_fetchall(f"PRAGMA {pragma}")
            values[pragma] = next(iter(rows))[0]
    assert values == {
        "journal_mode": "wal",
        "foreign_keys": 1,
        "busy_timeout": 5000,
        "synchronous": 1,
    }


async def test_open_is_idempotent_and_close_can_repeat(sqlite_backend: SQLiteMemoryBackend) -> None:
    writer = sqlite_backend.db._writer
    await sqlite_backend.open()
    assert sqlite_backend.db._writer is writer
    await sqlite_backend.aclose()
    await sqlite_backend.aclose()
    with pytest.raises(MemoryStoreError, match="not open"):
        await sqlite_backend.list_conversations()


def fts_terms(path: Path, table: str) -> set[str]:
    """Every term still in an FTS index (read from its vocabulary, not the content table)."""
    conn = sqlite3.connect(path)
    try:
        conn.execute(f"CREATE VIRTUAL TABLE temp.vocab USING fts5vocab(main, {table}, 'row')")
        return {r[0] for r in conn.execute("SELECT term FROM temp.vocab")}
    finally:
        conn.close()


async def test_purge_removes_rows_and_their_index_entries(
    tmp_path: Path, sqlite_backend: SQLiteMemoryBackend
) -> None:
    conv = await sqlite_backend.create_conversation()
    keep = await sqlite_backend.append_message(conv.id, Message(role="user", content="keepsake"))
    gone = await sqlite_backend.append_message(conv.id, Message(role="user", content="zanzibar"))
    other = await sqlite_backend.create_conversation()
    await sqlite_backend.append_message(other.id, Message(role="user", content="quokka"))
    memory = await sqlite_backend.add_memory("platypus fact", tags=["marsupial"])
    await sqlite_backend.delete("message", gone.id)
    await sqlite_backend.delete("conversation", other.id)
    await sqlite_backend.delete("memory", memory.id)
    path = tmp_path / "memory.db"
    # Soft-deleted: still indexed (restorable), just not returned.
    assert {"zanzibar", "quokka"} <= fts_terms(path, "messages_fts")
    assert await sqlite_backend.purge() == 3
    assert fts_terms(path, "messages_fts") == {"keepsake"}
    assert fts_terms(path, "memories_fts") == set()
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("SELECT id FROM messages").fetchall() == [(keep.id,)]
        assert conn.execute("SELECT COUNT(*) FROM memories").fetchone() == (0,)
        assert conn.execute("SELECT COUNT(*) FROM memory_tags").fetchone() == (0,)
        assert conn.execute("SELECT COUNT(*) FROM conversations").fetchone() == (1,)
        conn.execute("INSERT INTO messages_fts(messages_fts) VALUES ('integrity-check')")
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    finally:
        conn.close()


async def test_deep_conversations_delete_and_purge_without_recursion_limits(
    sqlite_backend: SQLiteMemoryBackend,
) -> None:
    conv = await sqlite_backend.create_conversation()
    first = None
    async with sqlite_backend.db.write() as conn:
        parent = None
        for i in range(1500):
            mid = f"deep{i}"
            await conn.execute(
                "INSERT INTO messages (id, conversation_id, parent_id, role, content, created_at)"
                " VALUES (?, ?, ?, 'user', ?, 1)",
                (mid, conv.id, parent, f"step {i}"),
            )
            parent = mid
        first = "deep0"
        await conn.execute(
            "UPDATE conversations SET current_leaf_id = ? WHERE id = ?", (parent, conv.id)
        )
    assert len(await sqlite_backend.history(conv.id)) == 1500
    await sqlite_backend.delete("message", first)
    assert (await sqlite_backend.get_conversation(conv.id)).current_leaf_id is None
    assert await sqlite_backend.purge() == 1
    await sqlite_backend.delete("conversation", conv.id)
    assert await sqlite_backend.purge() == 1


async def test_concurrent_writers_in_one_process_serialise(
    sqlite_backend: SQLiteMemoryBackend,
) -> None:
    conv = await sqlite_backend.create_conversation()
    root = await sqlite_backend.append_message(conv.id, Message(role="user", content="root"))
    await asyncio.gather(
        *(
            sqlite_backend.append_message(
                conv.id, Message(role="assistant", content=f"reply {i}"), parent_id=root.id
            )
            for i in range(40)
        ),
        *(sqlite_backend.search(SearchQuery("reply")) for _ in range(10)),
    )
    assert len(await sqlite_backend.branches(conv.id)) == 40


async def test_a_damaged_file_gives_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "memory.db"
    path.write_bytes(b"this is not a database at all" * 200)
    path.chmod(0o600)
    backend = SQLiteMemoryBackend(path)
    with pytest.raises(MemoryStoreError) as info:
        await backend.open()
    await backend.aclose()
    assert "damaged" in info.value.message
    assert info.value.data["path"] == str(path)
    assert "move the file away" in (info.value.hint or "")


async def test_an_unwritable_folder_gives_a_clear_error(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        # root ignores permissions: use a path under a file instead.
        blocker = tmp_path / "file"
        blocker.write_text("x")
        path = blocker / "memory.db"
    else:
        folder = tmp_path / "ro"
        folder.mkdir(mode=0o500)
        path = folder / "memory.db"
    backend = SQLiteMemoryBackend(path)
    with pytest.raises(MemoryStoreError) as info:
        await backend.open()
    assert info.value.hint and info.value.data["path"] == str(path)


def test_fts_expressions_quote_every_word() -> None:
    query = SearchQuery('kubernetes "exact phrase" pre* a OR b -"not this" -NEAR')
    assert fts_expression(query.parse()) == (
        '(("kubernetes") AND ("exact phrase") AND ("pre"*) AND ("a" OR "b")) '
        'NOT ("not this" OR "near")'
    )
    # FTS5 operators typed by a user are words, never syntax.
    assert fts_expression(SearchQuery("NEAR(a b) AND col:x").parse()) == (
        '("near a") AND ("b") AND ("and") AND ("col x")'
    )


async def test_hostile_query_text_is_searched_as_words(sqlite_backend: SQLiteMemoryBackend) -> None:
    conv = await sqlite_backend.create_conversation()
    msg = await sqlite_backend.append_message(
        conv.id, Message(role="user", content='near a b and col x "quoted" *star*')
    )
    for text in [
        "NEAR(a b) AND col:x",
        '"unterminated',
        "star*",
        "col:x*",
        "a^b",
        "(((",
        "'; DROP",
    ]:
        found = await sqlite_backend.search(SearchQuery(text))
        assert [h.id for h in found] in ([msg.id], []), text


async def test_bulk_imports_are_indexed_like_single_messages(
    tmp_path: Path, sqlite_backend: SQLiteMemoryBackend
) -> None:
    from llf_host import Conversation
    from llf_host import ConversationExport
    from llf_host import StoredMessage
    from llf_host.builtin_plugins.sqlite_memory.importer import BATCH

    count = BATCH * 2 + 7
    export = ConversationExport(
        Conversation(id="big"),
        [
            StoredMessage(
                id=str(n),
                conversation_id="big",
                parent_id=str(n - 1) if n else None,
                message=Message(role="user", content=f"line{n} common"),
            )
            for n in range(count)
        ],
    )
    single = await sqlite_backend.create_conversation()
    await sqlite_backend.append_message(single.id, Message(role="user", content="common alone"))
    conv = await sqlite_backend.import_conversation(export)
    await sqlite_backend.append_message(single.id, Message(role="user", content="common after"))
    assert conv.message_count == count
    found = await sqlite_backend.search(SearchQuery("common", limit=1000))
    assert len(found) == 1000
    for probe in ("line0", f"line{BATCH}", f"line{count - 1}", "alone", "after"):
        assert len(await sqlite_backend.search(SearchQuery(probe))) == 1, probe
    conn = sqlite3.connect(tmp_path / "memory.db")
    try:
        assert conn.execute("SELECT COUNT(*) FROM fts_deferred").fetchone() == (0,)
        assert conn.execute("SELECT COUNT(*) FROM messages_fts('common')").fetchone() == (
            count + 2,
        )
        conn.execute("INSERT INTO messages_fts(messages_fts) VALUES ('integrity-check')")
    finally:
        conn.close()
