"""Schema migrations: forward-only, numbered, each in one transaction.

``schema_version`` holds one row per applied migration. :func:`migrate` applies
the missing ones in order; two processes opening a fresh file at once are safe
(each migration re-checks the version after ``BEGIN IMMEDIATE``). A database
newer than this code is refused, never touched.

To change the schema, append a :class:`Migration`; never edit one that shipped.
``tests/memory/test_migrations.py`` runs every migration on a database at the
previous version holding data.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING
from typing import NamedTuple

from llf_host import MemoryStoreError

if TYPE_CHECKING:
    import sqlite3

__all__ = ["LATEST", "MIGRATIONS", "Migration", "current_version", "migrate"]

log = logging.getLogger("llf.plugin.sqlite_memory")


class Migration(NamedTuple):
    """One schema step: its number, what it does, and its SQL statements."""

    version: int
    name: str
    statements: tuple[str, ...]


_CORE = Migration(
    1,
    "conversations, messages as trees, memories",
    (
        """CREATE TABLE conversations (
            id TEXT PRIMARY KEY NOT NULL,
            title TEXT NOT NULL DEFAULT '',
            current_leaf_id TEXT REFERENCES messages(id) ON DELETE SET NULL,
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL,
            metadata TEXT NOT NULL DEFAULT '{}',
            deleted_at REAL
        )""",
        "CREATE INDEX conversations_updated ON conversations(updated_at)",
        "CREATE INDEX conversations_leaf ON conversations(current_leaf_id)",
        """CREATE TABLE messages (
            seq INTEGER PRIMARY KEY,
            id TEXT NOT NULL UNIQUE,
            conversation_id TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
            parent_id TEXT REFERENCES messages(id),
            role TEXT NOT NULL,
            content TEXT,
            name TEXT,
            tool_calls TEXT,
            tool_call_id TEXT,
            reasoning TEXT,
            model TEXT,
            usage TEXT,
            timings TEXT,
            cost REAL,
            created_at REAL NOT NULL,
            metadata TEXT NOT NULL DEFAULT '{}',
            deleted_at REAL
        )""",
        "CREATE INDEX messages_conversation ON messages(conversation_id, deleted_at)",
        "CREATE INDEX messages_parent ON messages(parent_id)",
        """CREATE TABLE memories (
            seq INTEGER PRIMARY KEY,
            id TEXT NOT NULL UNIQUE,
            content TEXT NOT NULL,
            tags TEXT NOT NULL DEFAULT '[]',
            source TEXT,
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL,
            metadata TEXT NOT NULL DEFAULT '{}',
            deleted_at REAL
        )""",
        """CREATE TABLE memory_tags (
            tag TEXT NOT NULL,
            memory_id TEXT NOT NULL REFERENCES memories(id) ON DELETE CASCADE,
            PRIMARY KEY (tag, memory_id)
        ) WITHOUT ROWID""",
        "CREATE INDEX memory_tags_memory ON memory_tags(memory_id)",
    ),
)

_FTS = Migration(
    2,
    "full-text search over messages and memories (FTS5, kept in sync by triggers)",
    (
        """CREATE VIRTUAL TABLE messages_fts USING fts5(
            content, content='messages', content_rowid='seq',
            tokenize='unicode61 remove_diacritics 2'
        )""",
        """CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN
            INSERT INTO messages_fts(rowid, content) VALUES (new.seq, new.content);
        END""",
        """CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN
            INSERT INTO messages_fts(messages_fts, rowid, content)
            VALUES ('delete', old.seq, old.content);
        END""",
        """CREATE TRIGGER messages_fts_update AFTER UPDATE OF content ON messages BEGIN
            INSERT INTO messages_fts(messages_fts, rowid, content)
            VALUES ('delete', old.seq, old.content);
            INSERT INTO messages_fts(rowid, content) VALUES (new.seq, new.content);
        END""",
        "INSERT INTO messages_fts(messages_fts) VALUES ('rebuild')",
        """CREATE VIRTUAL TABLE memories_fts USING fts5(
            content, tags, content='memories', content_rowid='seq',
            tokenize='unicode61 remove_diacritics 2'
        )""",
        """CREATE TRIGGER memories_fts_insert AFTER INSERT ON memories BEGIN
            INSERT INTO memories_fts(rowid, content, tags) VALUES (new.seq, new.content, new.tags);
        END""",
        """CREATE TRIGGER memories_fts_delete AFTER DELETE ON memories BEGIN
            INSERT INTO memories_fts(memories_fts, rowid, content, tags)
            VALUES ('delete', old.seq, old.content, old.tags);
        END""",
        """CREATE TRIGGER memories_fts_update AFTER UPDATE OF content, tags ON memories BEGIN
            INSERT INTO memories_fts(memories_fts, rowid, content, tags)
            VALUES ('delete', old.seq, old.content, old.tags);
            INSERT INTO memories_fts(rowid, content, tags) VALUES (new.seq, new.content, new.tags);
        END""",
        "INSERT INTO memories_fts(memories_fts) VALUES ('rebuild')",
    ),
)

# Schema 1 marked only the deleted message itself; its subtree was hidden
# implicitly. Schema 3 marks every hidden message with the trash item it belongs
# to (``deleted_by``: the id of the message whose deletion hid it), so a subtree
# is restored as the group it was deleted with. The backfill walks each tree
# from its roots: a deleted message starts its own group, others inherit their
# parent's.
_TRASH_GROUPS = Migration(
    3,
    "trash groups: a deleted message and the descendants it hid",
    (
        "ALTER TABLE messages ADD COLUMN deleted_by TEXT",
        """CREATE TEMP TABLE trash_walk AS
        WITH RECURSIVE walk(seq, id, grp, grp_at) AS (
            SELECT seq, id,
                   CASE WHEN deleted_at IS NOT NULL THEN id END, deleted_at
            FROM messages WHERE parent_id IS NULL
            UNION ALL
            SELECT m.seq, m.id,
                   CASE WHEN m.deleted_at IS NOT NULL THEN m.id ELSE w.grp END,
                   CASE WHEN m.deleted_at IS NOT NULL THEN m.deleted_at ELSE w.grp_at END
            FROM messages m JOIN walk w ON m.parent_id = w.id
        )
        SELECT seq, grp, grp_at FROM walk WHERE grp IS NOT NULL""",
        "CREATE UNIQUE INDEX temp.trash_walk_seq ON trash_walk(seq)",
        """UPDATE messages SET
            deleted_by = (SELECT grp FROM trash_walk t WHERE t.seq = messages.seq),
            deleted_at = (SELECT grp_at FROM trash_walk t WHERE t.seq = messages.seq)
        WHERE seq IN (SELECT seq FROM trash_walk)""",
        "DROP TABLE temp.trash_walk",
        "CREATE INDEX messages_deleted_by ON messages(deleted_by) WHERE deleted_by IS NOT NULL",
        "CREATE INDEX messages_trash ON messages(deleted_at) WHERE deleted_at IS NOT NULL",
        "CREATE INDEX conversations_trash ON conversations(deleted_at) "
        "WHERE deleted_at IS NOT NULL",
        "CREATE INDEX memories_trash ON memories(deleted_at) WHERE deleted_at IS NOT NULL",
    ),
)

# Indexing rows one by one from the insert trigger costs more than twice as much
# as indexing a whole batch with one INSERT ... SELECT. A bulk import puts a row
# in ``fts_deferred`` inside its write transaction, inserts its messages (the
# trigger skips them), indexes them in one statement and removes the row before
# COMMIT; a crash rolls all of it back together.
_BULK_FTS = Migration(
    4,
    "bulk imports index their messages in one statement",
    (
        "CREATE TABLE fts_deferred (owner TEXT PRIMARY KEY NOT NULL) WITHOUT ROWID",
        "DROP TRIGGER messages_fts_insert",
        """CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages
        WHEN NOT EXISTS (SELECT 1 FROM fts_deferred) BEGIN
            INSERT INTO messages_fts(rowid, content) VALUES (new.seq, new.content);
        END""",
    ),
)

#: Every migration, in order.
MIGRATIONS: tuple[Migration, ...] = (_CORE, _FTS, _TRASH_GROUPS, _BULK_FTS)
#: The schema version this code writes.
LATEST = MIGRATIONS[-1].version

_VERSION_TABLE = """CREATE TABLE IF NOT EXISTS schema_version (
    version INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    applied_at REAL NOT NULL
)"""


def current_version(conn: sqlite3.Connection) -> int:
    """The highest applied migration (0 for a fresh file)."""
    row = conn.execute("SELECT COALESCE(MAX(version), 0) FROM schema_version").fetchone()
    return int(row[0])


def migrate(conn: sqlite3.Connection, target: int | None = None) -> int:
    """Apply missing migrations up to ``target`` (default: all); returns the version.

    ``conn`` must be in autocommit mode (``isolation_level=None``).
    """
    conn.execute(_VERSION_TABLE)
    version = current_version(conn)
    if version > LATEST:
        raise MemoryStoreError(
            f"the memory database uses schema v{version}, newer than this llf-host "
            f"understands (v{LATEST})",
            hint="upgrade llf-host, or point [plugins.sqlite_memory] path at another file",
            schema_version=version,
            supported=LATEST,
        )
    for migration in MIGRATIONS:
        if migration.version <= version or (target is not None and migration.version > target):
            continue
        conn.execute("BEGIN IMMEDIATE")
        try:
            if current_version(conn) < migration.version:
                for statement in migration.statements:
                    conn.execute(statement)
                conn.execute(
                    "INSERT INTO schema_version (version, name, applied_at) VALUES (?, ?, ?)",
                    (migration.version, migration.name, time.time()),
                )
                log.info("memory database migrated to v%d: %s", migration.version, migration.name)
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        version = migration.version
    return current_version(conn)
