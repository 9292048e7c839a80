"""Bulk import: a whole conversation in one transaction, messages in batches.

Rows are built in Python and written with ``executemany`` in batches of
:data:`BATCH` (one thread hop per batch); each batch is then added to the
full-text index with one ``INSERT ... SELECT`` instead of row by row from the
trigger (migration 4), which more than doubles the insert rate. Ids are new;
the tree shape, the current leaf, timestamps and bookkeeping are kept.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING
from typing import Any

from llf_host import ConversationExport
from llf_host import MemoryStoreError

from . import tree
from .rows import MESSAGE_INSERT
from .rows import dumps
from .rows import message_row
from .rows import new_id
from .rows import new_ids

if TYPE_CHECKING:
    import aiosqlite


__all__ = ["BATCH", "import_conversation"]

#: Messages written per executemany call.
BATCH = 2000


def _rows(
    export: ConversationExport, conversation_id: str, now: float
) -> tuple[list[tuple[Any, ...]], dict[str, str]]:
    ids = new_ids("msg", len(export.messages))
    mapping: dict[str, str] = {}
    rows: list[tuple[Any, ...]] = []
    for new, item in zip(ids, export.messages, strict=True):
        parent = None
        if item.parent_id is not None:
            parent = mapping.get(item.parent_id)
            if parent is None:
                raise MemoryStoreError(
                    f"message {item.id!r} refers to parent {item.parent_id!r}, which does not "
                    "come before it in the import",
                    hint="list messages parents first; the import was not stored",
                    message_id=item.id,
                )
        mapping[item.id] = new
        rows.append(
            message_row(
                new,
                conversation_id,
                parent,
                item.message,
                model=item.model,
                usage=item.usage,
                timings=item.timings,
                cost=item.cost,
                created_at=item.created_at or now,
                metadata=item.metadata,
            )
        )
    return rows, mapping


async def import_conversation(
    conn: aiosqlite.Connection,
    export: ConversationExport,
    on_progress: Callable[[int], None] | None = None,
) -> str:
    """Write ``export`` as a new conversation; returns its id."""
    now = time.time()
    source = export.conversation
    conversation_id = new_id("conv")
    rows, mapping = _rows(export, conversation_id, now)
    await conn.execute(
        "INSERT INTO conversations (id, title, created_at, updated_at, metadata) "
        "VALUES (?, ?, ?, ?, ?)",
        (
            conversation_id,
            source.title,
            source.created_at or now,
            source.updated_at or source.created_at or now,
            dumps({**source.metadata, "imported_from": source.id}),
        ),
    )
    last_seq = await tree.scalar(conn, "SELECT COALESCE(MAX(seq), 0) FROM messages")
    # Index in bulk (migration 4): the insert trigger skips rows while the flag is set.
    await conn.execute("INSERT INTO fts_deferred (owner) VALUES (?)", (conversation_id,))
    for start in range(0, len(rows), BATCH):
        await conn.executemany(MESSAGE_INSERT, rows[start : start + BATCH])
        await conn.execute(
            "INSERT INTO messages_fts (rowid, content) SELECT seq, content FROM messages "
            "WHERE conversation_id = ? AND seq > ?",
            (conversation_id, last_seq),
        )
        last_seq = await tree.scalar(conn, "SELECT MAX(seq) FROM messages")
        if on_progress is not None:
            on_progress(min(start + BATCH, len(rows)))
    await conn.execute("DELETE FROM fts_deferred WHERE owner = ?", (conversation_id,))
    leaf = mapping.get(source.current_leaf_id or "")
    if leaf is None:
        leaf = await tree.latest_leaf(conn, conversation_id)
    await conn.execute(
        "UPDATE conversations SET current_leaf_id = ? WHERE id = ?", (leaf, conversation_id)
    )
    return conversation_id
