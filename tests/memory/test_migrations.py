"""Each schema migration, run on a real database file at the previous version holding data."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from llf_host import MemoryStoreError
from llf_host import SearchQuery
from llf_host.builtin_plugins.sqlite_memory import migrations
from llf_host.builtin_plugins.sqlite_memory.backend import SQLiteMemoryBackend
from llf_host.builtin_plugins.sqlite_memory.database import connect_sync


def at_version(path: Path, version: int) -> sqlite3.Connection:
    conn = connect_sync(path)
    conn.execute("PRAGMA journal_mode = WAL")
    assert migrations.migrate(conn, target=version) == version
    return conn


def tables(conn: sqlite3.Connection) -> set[str]:
    return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def test_versions_are_consecutive_and_each_is_recorded(tmp_path: Path) -> None:
    assert [m.version for m in migrations.MIGRATIONS] == list(
        range(1, len(migrations.MIGRATIONS) + 1)
    )
    conn = at_version(tmp_path / "m.db", migrations.LATEST)
    rows = conn.execute("SELECT version, name FROM schema_version ORDER BY version").fetchall()
    assert [r[0] for r in rows] == [m.version for m in migrations.MIGRATIONS]
    # Running again changes nothing.
    assert migrations.migrate(conn) == migrations.LATEST
    assert conn.execute("SELECT COUNT(*) FROM schema_version").fetchone()[0] == len(rows)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_v1_from_an_empty_file(tmp_path: Path) -> None:
    conn = at_version(tmp_path / "m.db", 0)
    assert tables(conn) == {"schema_version"}
    migrations.migrate(conn, target=1)
    assert {"conversations", "messages", "memories", "memory_tags"} <= tables(conn)
    conn.execute("PRAGMA foreign_keys = ON")
    with pytest.raises(sqlite3.IntegrityError):
        conn.execute(
            "INSERT INTO messages (id, conversation_id, role, created_at) "
            "VALUES ('m', 'no-such-conversation', 'user', 1)"
        )


def _v1_data(conn: sqlite3.Connection) -> None:
    conn.execute(
        "INSERT INTO conversations (id, title, created_at, updated_at) VALUES ('c', 'old', 1, 1)"
    )
    rows = [
        # id, parent, content, deleted_at  (schema 1 marked only the deleted message)
        ("r", None, "root about penguins", None),
        ("a", "r", "branch a mentions walrus", 100.0),
        ("b", "a", "hidden below a", None),
        ("x", "b", "deleted on its own first", 50.0),
        ("y", "x", "hidden below x", None),
        ("s", None, "second root deleted", 70.0),
        ("t", "s", "hidden below s", None),
        ("k", "r", "kept branch", None),
    ]
    for seq, (mid, parent, content, deleted) in enumerate(rows, start=1):
        conn.execute(
            "INSERT INTO messages (seq, id, conversation_id, parent_id, role, content, "
            "created_at, deleted_at) VALUES (?, ?, 'c', ?, 'user', ?, ?, ?)",
            (seq, mid, parent, content, float(seq), deleted),
        )
    conn.execute("UPDATE conversations SET current_leaf_id = 'k' WHERE id = 'c'")
    conn.execute(
        "INSERT INTO memories (id, content, tags, created_at, updated_at) "
        "VALUES ('mem', 'likes penguins', '[\"zoo\"]', 1, 1)"
    )
    conn.execute("INSERT INTO memory_tags (tag, memory_id) VALUES ('zoo', 'mem')")


def test_v2_indexes_rows_written_before_it(tmp_path: Path) -> None:
    conn = at_version(tmp_path / "m.db", 1)
    _v1_data(conn)
    migrations.migrate(conn, target=2)
    found = conn.execute(
        "SELECT rowid FROM messages_fts WHERE messages_fts MATCH 'penguins'"
    ).fetchall()
    assert found == [(1,)]
    assert conn.execute(
        "SELECT COUNT(*) FROM memories_fts WHERE memories_fts MATCH 'zoo'"
    ).fetchone() == (1,)
    # The triggers index what comes after.
    conn.execute(
        "INSERT INTO messages (id, conversation_id, role, content, created_at) "
        "VALUES ('n', 'c', 'user', 'new penguins', 9)"
    )
    assert len(conn.execute("SELECT rowid FROM messages_fts('penguins')").fetchall()) == 2
    conn.execute("DELETE FROM messages WHERE id = 'n'")
    assert len(conn.execute("SELECT rowid FROM messages_fts('penguins')").fetchall()) == 1


def test_v3_turns_implicitly_hidden_subtrees_into_trash_groups(tmp_path: Path) -> None:
    conn = at_version(tmp_path / "m.db", 2)
    _v1_data(conn)
    migrations.migrate(conn, target=3)
    marks = dict(
        (mid, (by, at))
        for mid, by, at in conn.execute("SELECT id, deleted_by, deleted_at FROM messages")
    )
    assert marks == {
        "r": (None, None),
        "k": (None, None),
        "a": ("a", 100.0),
        "b": ("a", 100.0),
        "x": ("x", 50.0),
        "y": ("x", 50.0),
        "s": ("s", 70.0),
        "t": ("s", 70.0),
    }
    assert conn.execute("PRAGMA foreign_key_check").fetchall() == []


def test_v4_lets_bulk_imports_defer_indexing(tmp_path: Path) -> None:
    conn = at_version(tmp_path / "m.db", 3)
    _v1_data(conn)
    migrations.migrate(conn, target=4)
    assert conn.execute("SELECT rowid FROM messages_fts('penguins')").fetchall() == [(1,)]
    conn.execute(
        "INSERT INTO messages (id, conversation_id, role, content, created_at) "
        "VALUES ('n1', 'c', 'user', 'more penguins', 9)"
    )
    assert len(conn.execute("SELECT rowid FROM messages_fts('penguins')").fetchall()) == 2
    conn.execute("BEGIN")
    conn.execute("INSERT INTO fts_deferred (owner) VALUES ('bulk')")
    conn.execute(
        "INSERT INTO messages (id, conversation_id, role, content, created_at) "
        "VALUES ('n2', 'c', 'user', 'deferred penguins', 10)"
    )
    assert len(conn.execute("SELECT rowid FROM messages_fts('penguins')").fetchall()) == 2
    conn.execute("ROLLBACK")
    assert conn.execute("SELECT COUNT(*) FROM fts_deferred").fetchone() == (0,)
    conn.execute("INSERT INTO messages_fts(messages_fts) VALUES ('integrity-check')")


async def test_backend_opens_a_v2_database_and_uses_its_data(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    conn = at_version(path, 2)
    _v1_data(conn)
    conn.close()
    backend = SQLiteMemoryBackend(path)
    await backend.open()
    try:
        assert backend.db.schema_version == migrations.LATEST
        assert [m.id for m in await backend.tree("c")] == ["r", "k"]
        assert {(i.id, i.count) for i in await backend.list_trash()} == {
            ("a", 2),
            ("x", 2),
            ("s", 2),
        }
        await backend.restore("message", "a")
        assert [m.id for m in await backend.tree("c")] == ["r", "a", "b", "k"]
        await backend.restore("message", "x")
        assert [m.id for m in await backend.history("c", "y")] == ["r", "a", "b", "x", "y"]
        assert [h.id for h in await backend.search(SearchQuery("walrus"))] == ["a"]
        assert [h.id for h in await backend.search(SearchQuery("penguins"))] == ["r", "mem"]
    finally:
        await backend.aclose()


def test_a_newer_schema_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    conn = at_version(path, migrations.LATEST)
    conn.execute(
        "INSERT INTO schema_version (version, name, applied_at) VALUES (?, 'future', 0)",
        (migrations.LATEST + 1,),
    )
    with pytest.raises(MemoryStoreError) as info:
        migrations.migrate(conn)
    assert info.value.data["schema_version"] == migrations.LATEST + 1
    assert "upgrade" in (info.value.hint or "")


def test_a_failing_migration_leaves_the_previous_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    conn = at_version(tmp_path / "m.db", 2)
    broken = migrations.Migration(3, "broken", ("CREATE TABLE half (x)", "NOT SQL AT ALL"))
    monkeypatch.setattr(migrations, "MIGRATIONS", (*migrations.MIGRATIONS[:2], broken))
    with pytest.raises(sqlite3.OperationalError):
        migrations.migrate(conn)
    assert migrations.current_version(conn) == 2
    assert "half" not in tables(conn)
