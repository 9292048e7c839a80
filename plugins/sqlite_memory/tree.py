"""Queries over one conversation's tree: lookups, paths, leaves, subtrees.

Each function takes an open aiosqlite connection inside a transaction the
caller holds, so a backend method composes several of them atomically.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from typing import Any

from llf_host import Conversation
from llf_host import ConversationNotFoundError
from llf_host import StoredMessage

from .rows import CONVERSATION_COLUMNS
from .rows import MESSAGE_COLUMNS
from .rows import conversation_from_row
from .rows import message_from_row

if TYPE_CHECKING:
    import aiosqlite


__all__ = [
    "conversation",
    "latest_leaf",
    "leaves",
    "live_message",
    "live_rows",
    "path_to",
    "set_leaf",
]

_LIVE = "m.deleted_at IS NULL AND c.deleted_at IS NULL"


def conversation_missing(conversation_id: str) -> ConversationNotFoundError:
    """The error for an unknown or trashed conversation."""
    return ConversationNotFoundError(
        f"no conversation {conversation_id!r}",
        hint="list conversations with `llf-host conversations list`; "
        "deleted ones are in `llf-host trash list`",
        conversation_id=conversation_id,
    )


def message_missing(message_id: str, conversation_id: str | None) -> ConversationNotFoundError:
    """The error for an unknown or trashed message."""
    where = f" in conversation {conversation_id!r}" if conversation_id else ""
    return ConversationNotFoundError(
        f"no message {message_id!r}{where}",
        hint="see the conversation's messages with `llf-host conversations show`",
        message_id=message_id,
        conversation_id=conversation_id,
    )


async def conversation(conn: aiosqlite.Connection, conversation_id: str) -> Conversation:
    """The live conversation ``conversation_id``."""
    rows = await conn.execute_fetchall(
        f"SELECT {CONVERSATION_COLUMNS} FROM conversations c "
        "WHERE c.id = ? AND c.deleted_at IS NULL",
        (conversation_id,),
    )
    for row in rows:
        return conversation_from_row(row)
    raise conversation_missing(conversation_id)


async def live_message(
    conn: aiosqlite.Connection, message_id: str, conversation_id: str | None = None
) -> StoredMessage:
    """The live message ``message_id`` (in ``conversation_id`` when given)."""
    rows = await conn.execute_fetchall(
        f"SELECT {MESSAGE_COLUMNS} FROM messages m "
        f"JOIN conversations c ON c.id = m.conversation_id WHERE m.id = ? AND {_LIVE}",
        (message_id,),
    )
    for row in rows:
        found = message_from_row(row)
        if conversation_id is None or found.conversation_id == conversation_id:
            return found
    raise message_missing(message_id, conversation_id)


async def path_to(conn: aiosqlite.Connection, leaf_id: str) -> list[StoredMessage]:
    """The root-to-``leaf_id`` path (the caller checked the leaf is live)."""
    rows = await conn.execute_fetchall(
        f"""WITH RECURSIVE path(seq, parent_id, depth) AS (
            SELECT seq, parent_id, 0 FROM messages WHERE id = ?
            UNION ALL
            SELECT p.seq, p.parent_id, path.depth + 1
            FROM messages p JOIN path ON p.id = path.parent_id
        )
        SELECT {MESSAGE_COLUMNS} FROM path JOIN messages m ON m.seq = path.seq
        ORDER BY path.depth DESC""",
        (leaf_id,),
    )
    return [message_from_row(r) for r in rows]


async def live_rows(conn: aiosqlite.Connection, conversation_id: str) -> list[StoredMessage]:
    """Every live message of the conversation, in insertion order."""
    rows = await conn.execute_fetchall(
        f"SELECT {MESSAGE_COLUMNS} FROM messages m "
        "WHERE m.conversation_id = ? AND m.deleted_at IS NULL ORDER BY m.seq",
        (conversation_id,),
    )
    return [message_from_row(r) for r in rows]


_LEAVES = f"""SELECT {MESSAGE_COLUMNS} FROM messages m
    WHERE m.conversation_id = ? AND m.deleted_at IS NULL
    AND NOT EXISTS (
        SELECT 1 FROM messages child WHERE child.parent_id = m.id AND child.deleted_at IS NULL
    )"""


async def leaves(conn: aiosqlite.Connection, conversation_id: str) -> list[StoredMessage]:
    """The live leaves, in insertion order."""
    rows = await conn.execute_fetchall(f"{_LEAVES} ORDER BY m.seq", (conversation_id,))
    return [message_from_row(r) for r in rows]


async def latest_leaf(conn: aiosqlite.Connection, conversation_id: str) -> str | None:
    """The most recently added live leaf, if any."""
    rows = await conn.execute_fetchall(f"{_LEAVES} ORDER BY m.seq DESC LIMIT 1", (conversation_id,))
    for row in rows:
        return str(row[0])
    return None


async def set_leaf(
    conn: aiosqlite.Connection, conversation_id: str, leaf_id: str | None, now: float
) -> None:
    """Point the conversation at ``leaf_id`` and mark it updated."""
    await conn.execute(
        "UPDATE conversations SET current_leaf_id = ?, updated_at = ? WHERE id = ?",
        (leaf_id, now, conversation_id),
    )


async def scalar(conn: aiosqlite.Connection, sql: str, params: tuple[Any, ...] = ()) -> Any:
    """The first column of the first row, or None."""
    rows = await conn.execute_fetchall(sql, params)
    for row in rows:
        return row[0]
    return None
