"""Soft deletes, restores, the trash listing and purging.

A deleted conversation or memory carries ``deleted_at``. A deleted message and
the live descendants it hides carry ``deleted_at`` and ``deleted_by`` (the id
of the message whose deletion hid them), so the group comes back as it went.
Purging deletes rows for real; the FTS triggers remove their index entries.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from typing import Literal

from llf_host import ConversationNotFoundError
from llf_host import MemoryStoreError
from llf_host import TrashItem

from . import tree

if TYPE_CHECKING:
    import aiosqlite


__all__ = [
    "delete_conversation",
    "delete_memory",
    "delete_message",
    "list_trash",
    "purge",
    "restore_conversation",
    "restore_memory",
    "restore_message",
    "trash_size",
]

TrashKind = Literal["conversation", "message", "memory"]


def not_in_trash(kind: TrashKind, item_id: str) -> ConversationNotFoundError:
    """The error for restoring something that is not in the trash."""
    return ConversationNotFoundError(
        f"no {kind} {item_id!r} in the trash",
        hint="see what can be restored with `llf-host trash list`",
        item_kind=kind,
        item_id=item_id,
    )


async def delete_conversation(conn: aiosqlite.Connection, conversation_id: str, now: float) -> None:
    """Move a live conversation to the trash."""
    await tree.conversation(conn, conversation_id)
    await conn.execute(
        "UPDATE conversations SET deleted_at = ? WHERE id = ?", (now, conversation_id)
    )


async def delete_memory(conn: aiosqlite.Connection, memory_id: str, now: float) -> None:
    """Move a live memory to the trash."""
    cursor = await conn.execute(
        "UPDATE memories SET deleted_at = ? WHERE id = ? AND deleted_at IS NULL", (now, memory_id)
    )
    if cursor.rowcount == 0:
        raise ConversationNotFoundError(
            f"no memory {memory_id!r}",
            hint="list memories with `memory/list`; deleted ones are in `llf-host trash list`",
            memory_id=memory_id,
        )


async def delete_message(conn: aiosqlite.Connection, message_id: str, now: float) -> None:
    """Trash a live message with its live descendants; move the current leaf off them."""
    root = await tree.live_message(conn, message_id)
    await conn.execute(
        """WITH RECURSIVE sub(id) AS (
            SELECT ?
            UNION ALL
            SELECT m.id FROM messages m JOIN sub ON m.parent_id = sub.id
            WHERE m.deleted_at IS NULL
        )
        UPDATE messages SET deleted_at = ?, deleted_by = ? WHERE id IN (SELECT id FROM sub)""",
        (message_id, now, message_id),
    )
    conv = await tree.conversation(conn, root.conversation_id)
    leaf = conv.current_leaf_id
    if leaf is not None:
        hidden = await tree.scalar(conn, "SELECT deleted_by FROM messages WHERE id = ?", (leaf,))
        if hidden == message_id:
            leaf = root.parent_id
            if leaf is None:
                leaf = await tree.latest_leaf(conn, root.conversation_id)
    await tree.set_leaf(conn, root.conversation_id, leaf, now)


async def restore_conversation(conn: aiosqlite.Connection, conversation_id: str) -> None:
    """Bring a trashed conversation back."""
    cursor = await conn.execute(
        "UPDATE conversations SET deleted_at = NULL WHERE id = ? AND deleted_at IS NOT NULL",
        (conversation_id,),
    )
    if cursor.rowcount == 0:
        raise not_in_trash("conversation", conversation_id)


async def restore_memory(conn: aiosqlite.Connection, memory_id: str) -> None:
    """Bring a trashed memory back."""
    cursor = await conn.execute(
        "UPDATE memories SET deleted_at = NULL WHERE id = ? AND deleted_at IS NOT NULL",
        (memory_id,),
    )
    if cursor.rowcount == 0:
        raise not_in_trash("memory", memory_id)


def _blocked(message_id: str, kind: str, blocker: str) -> MemoryStoreError:
    return MemoryStoreError(
        f"message {message_id!r} cannot be restored while its {kind} {blocker!r} is in the trash",
        hint=f"restore {kind} {blocker!r} first, then this message",
        message_id=message_id,
        blocked_by=blocker,
    )


async def restore_message(conn: aiosqlite.Connection, message_id: str, now: float) -> None:
    """Bring back the group ``message_id`` was deleted with."""
    rows = list(
        await conn.execute_fetchall(
            """SELECT m.conversation_id, m.parent_id, c.deleted_at,
                      (SELECT p.deleted_at FROM messages p WHERE p.id = m.parent_id)
            FROM messages m JOIN conversations c ON c.id = m.conversation_id
            WHERE m.id = ? AND m.deleted_by = m.id""",
            (message_id,),
        )
    )
    if not rows:
        raise not_in_trash("message", message_id)
    conversation_id, parent_id, conv_deleted, parent_deleted = rows[0]
    if conv_deleted is not None:
        raise _blocked(message_id, "conversation", conversation_id)
    if parent_deleted is not None:
        raise _blocked(message_id, "message", parent_id)
    await conn.execute(
        "UPDATE messages SET deleted_at = NULL, deleted_by = NULL WHERE deleted_by = ?",
        (message_id,),
    )
    conv = await tree.conversation(conn, conversation_id)
    leaf = conv.current_leaf_id
    if leaf is None:
        leaf = await tree.latest_leaf(conn, conversation_id)
    await tree.set_leaf(conn, conversation_id, leaf, now)


async def list_trash(conn: aiosqlite.Connection) -> list[TrashItem]:
    """Trashed conversations, message groups and memories, most recent first."""
    items: list[TrashItem] = []
    for cid, title, deleted_at in await conn.execute_fetchall(
        "SELECT id, title, deleted_at FROM conversations WHERE deleted_at IS NOT NULL"
    ):
        items.append(TrashItem("conversation", cid, title, deleted_at))
    for mid, cid, content, deleted_at, count in await conn.execute_fetchall(
        """SELECT m.id, m.conversation_id, substr(COALESCE(m.content, ''), 1, 80), m.deleted_at,
                  (SELECT COUNT(*) FROM messages g WHERE g.deleted_by = m.id)
        FROM messages m WHERE m.deleted_by = m.id"""
    ):
        items.append(
            TrashItem("message", mid, content, deleted_at, conversation_id=cid, count=count)
        )
    for kid, content, deleted_at in await conn.execute_fetchall(
        "SELECT id, substr(content, 1, 80), deleted_at FROM memories WHERE deleted_at IS NOT NULL"
    ):
        items.append(TrashItem("memory", kid, content, deleted_at))
    items.sort(key=lambda item: item.deleted_at, reverse=True)
    return items


async def trash_size(conn: aiosqlite.Connection) -> int:
    """How many items the trash holds."""
    value = await tree.scalar(
        conn,
        """SELECT (SELECT COUNT(*) FROM conversations WHERE deleted_at IS NOT NULL)
                + (SELECT COUNT(*) FROM messages WHERE deleted_by IS NOT NULL AND deleted_by = id)
                + (SELECT COUNT(*) FROM memories WHERE deleted_at IS NOT NULL)""",
    )
    return int(value or 0)


async def purge(conn: aiosqlite.Connection, older_than: float | None) -> int:
    """Delete trashed rows (deleted before ``older_than``; all when None) for real."""
    cutoff = float("inf") if older_than is None else older_than
    before = await trash_size(conn)
    await conn.execute(
        "DELETE FROM conversations WHERE deleted_at IS NOT NULL AND deleted_at < ?", (cutoff,)
    )
    # A purged group takes everything below it: descendants trashed on their own
    # can never be restored once their ancestor is gone.
    await conn.execute(
        """WITH RECURSIVE doomed(id) AS (
            SELECT id FROM messages
            WHERE deleted_at IS NOT NULL AND deleted_at < ? AND deleted_by = id
            UNION
            SELECT m.id FROM messages m JOIN doomed d ON m.parent_id = d.id
        )
        DELETE FROM messages WHERE id IN (SELECT id FROM doomed)""",
        (cutoff,),
    )
    await conn.execute(
        "DELETE FROM memories WHERE deleted_at IS NOT NULL AND deleted_at < ?", (cutoff,)
    )
    return before - await trash_size(conn)
