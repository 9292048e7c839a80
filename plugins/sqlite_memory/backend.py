"""The SQLite memory backend: the MemoryBackend contract over one database file.

Each method is one read snapshot or one write transaction of the
:class:`~.database.Database`; the SQL lives in :mod:`.tree`, :mod:`.trash`,
:mod:`.search` and :mod:`.importer`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from typing import Literal

from llf_host import Conversation
from llf_host import ConversationExport
from llf_host import ConversationNotFoundError
from llf_host import MemoryBackend
from llf_host import MemoryItem
from llf_host import Message
from llf_host import SearchHit
from llf_host import SearchQuery
from llf_host import StoredMessage
from llf_host import Timings
from llf_host import TrashItem
from llf_host import Usage

from . import importer
from . import search as fts
from . import trash
from . import tree
from .database import Database
from .database import Synchronous
from .rows import CONVERSATION_COLUMNS
from .rows import MEMORY_COLUMNS
from .rows import MESSAGE_INSERT
from .rows import conversation_from_row
from .rows import dumps
from .rows import memory_from_row
from .rows import message_row
from .rows import new_id

__all__ = ["SQLiteMemoryBackend"]

TrashKind = Literal["conversation", "message", "memory"]


class SQLiteMemoryBackend(MemoryBackend):
    """Conversations as trees, memories, FTS5 search and a trash, in one SQLite file."""

    name = "sqlite"

    def __init__(
        self,
        path: Path,
        *,
        busy_timeout_ms: int = 5000,
        synchronous: Synchronous = "normal",
    ) -> None:
        self.path = path
        self.db = Database(path, busy_timeout_ms=busy_timeout_ms, synchronous=synchronous)

    def __repr__(self) -> str:
        return f"<SQLiteMemoryBackend {self.path}>"

    async def open(self) -> None:
        """Create or migrate the database and open its connections."""
        await self.db.open()

    async def aclose(self) -> None:
        """Close the connections (idempotent)."""
        await self.db.aclose()

    # -- conversations --------------------------------------------------------------
    async def create_conversation(
        self, title: str = "", metadata: dict[str, Any] | None = None
    ) -> Conversation:
        """Create an empty conversation."""
        now = time.time()
        conv = Conversation(
            id=new_id("conv"), title=title, created_at=now, updated_at=now, metadata=metadata or {}
        )
        async with self.db.write() as conn:
            await conn.execute(
                "INSERT INTO conversations (id, title, created_at, updated_at, metadata) "
                "VALUES (?, ?, ?, ?, ?)",
                (conv.id, title, now, now, dumps(conv.metadata)),
            )
        return conv

    async def get_conversation(self, conversation_id: str) -> Conversation:
        """One live conversation."""
        async with self.db.read() as conn:
            return await tree.conversation(conn, conversation_id)

    async def list_conversations(self, limit: int = 50, offset: int = 0) -> list[Conversation]:
        """Live conversations, most recently updated first."""
        async with self.db.read() as conn:
            rows = await conn.execute_fetchall(
                f"SELECT {CONVERSATION_COLUMNS} FROM conversations c WHERE c.deleted_at IS NULL "
                "ORDER BY c.updated_at DESC, c.id DESC LIMIT ? OFFSET ?",
                (limit, offset),
            )
        return [conversation_from_row(r) for r in rows]

    async def append_message(
        self,
        conversation_id: str,
        message: Message,
        *,
        parent_id: str | None = None,
        model: str | None = None,
        usage: Usage | None = None,
        timings: Timings | None = None,
        cost: float | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> StoredMessage:
        """Add a message under ``parent_id`` (default: the current leaf); it becomes the leaf."""
        now = time.time()
        message_id = new_id("msg")
        async with self.db.write() as conn:
            conv = await tree.conversation(conn, conversation_id)
            parent = parent_id if parent_id is not None else conv.current_leaf_id
            if parent is not None:
                await tree.live_message(conn, parent, conversation_id)
            await conn.execute(
                MESSAGE_INSERT,
                message_row(
                    message_id,
                    conversation_id,
                    parent,
                    message,
                    model=model,
                    usage=usage,
                    timings=timings,
                    cost=cost,
                    created_at=now,
                    metadata=metadata,
                ),
            )
            await tree.set_leaf(conn, conversation_id, message_id, now)
        return StoredMessage(
            id=message_id,
            conversation_id=conversation_id,
            message=message,
            parent_id=parent,
            model=model,
            usage=usage,
            timings=timings,
            cost=cost,
            created_at=now,
            metadata=metadata or {},
        )

    async def get_message(self, message_id: str) -> StoredMessage:
        """One live message."""
        async with self.db.read() as conn:
            return await tree.live_message(conn, message_id)

    async def history(
        self, conversation_id: str, leaf_id: str | None = None
    ) -> list[StoredMessage]:
        """Root-to-leaf path ending at ``leaf_id`` (default: the current leaf)."""
        async with self.db.read() as conn:
            conv = await tree.conversation(conn, conversation_id)
            leaf = leaf_id if leaf_id is not None else conv.current_leaf_id
            if leaf is None:
                return []
            await tree.live_message(conn, leaf, conversation_id)
            return await tree.path_to(conn, leaf)

    async def tree(self, conversation_id: str) -> list[StoredMessage]:
        """Every live message, in the order they were added."""
        async with self.db.read() as conn:
            await tree.conversation(conn, conversation_id)
            return await tree.live_rows(conn, conversation_id)

    async def branches(self, conversation_id: str) -> list[StoredMessage]:
        """The live leaves, in the order they were added."""
        async with self.db.read() as conn:
            await tree.conversation(conn, conversation_id)
            return await tree.leaves(conn, conversation_id)

    async def switch_branch(self, conversation_id: str, leaf_id: str) -> Conversation:
        """Make ``leaf_id`` the current leaf."""
        async with self.db.write() as conn:
            await tree.conversation(conn, conversation_id)
            await tree.live_message(conn, leaf_id, conversation_id)
            await tree.set_leaf(conn, conversation_id, leaf_id, time.time())
            return await tree.conversation(conn, conversation_id)

    async def edit_message(
        self, message_id: str, content: str, metadata: dict[str, Any] | None = None
    ) -> StoredMessage:
        """Add a sibling with new content and make it the current leaf."""
        now = time.time()
        new = new_id("msg")
        meta = {**(metadata or {}), "edited_from": message_id}
        async with self.db.write() as conn:
            old = await tree.live_message(conn, message_id)
            message = Message(role=old.message.role, content=content, name=old.message.name)
            await conn.execute(
                MESSAGE_INSERT,
                message_row(
                    new,
                    old.conversation_id,
                    old.parent_id,
                    message,
                    model=None,
                    usage=None,
                    timings=None,
                    cost=None,
                    created_at=now,
                    metadata=meta,
                ),
            )
            await tree.set_leaf(conn, old.conversation_id, new, now)
        return StoredMessage(
            id=new,
            conversation_id=old.conversation_id,
            message=message,
            parent_id=old.parent_id,
            created_at=now,
            metadata=meta,
        )

    async def import_conversation(
        self, export: ConversationExport, *, on_progress: Callable[[int], None] | None = None
    ) -> Conversation:
        """Store a whole conversation in one transaction, under new ids."""
        async with self.db.write() as conn:
            conversation_id = await importer.import_conversation(conn, export, on_progress)
            return await tree.conversation(conn, conversation_id)

    # -- memories ---------------------------------------------------------------------
    async def add_memory(
        self,
        content: str,
        *,
        tags: list[str] | None = None,
        source: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> MemoryItem:
        """Store a fact."""
        now = time.time()
        item = MemoryItem(
            id=new_id("mem"),
            content=content,
            tags=list(dict.fromkeys(tags or [])),
            source=source,
            created_at=now,
            updated_at=now,
            metadata=metadata or {},
        )
        async with self.db.write() as conn:
            await conn.execute(
                "INSERT INTO memories (id, content, tags, source, created_at, updated_at, "
                "metadata) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (item.id, content, dumps(item.tags), source, now, now, dumps(item.metadata)),
            )
            await conn.executemany(
                "INSERT INTO memory_tags (tag, memory_id) VALUES (?, ?)",
                [(tag, item.id) for tag in item.tags],
            )
        return item

    async def get_memory(self, memory_id: str) -> MemoryItem:
        """One live fact."""
        async with self.db.read() as conn:
            rows = await conn.execute_fetchall(
                f"SELECT {MEMORY_COLUMNS} FROM memories k WHERE k.id = ? AND k.deleted_at IS NULL",
                (memory_id,),
            )
        for row in rows:
            return memory_from_row(row)
        raise ConversationNotFoundError(
            f"no memory {memory_id!r}",
            hint="list memories with `memory/list`; deleted ones are in `llf-host trash list`",
            memory_id=memory_id,
        )

    async def list_memories(
        self, tags: list[str] | None = None, limit: int = 50, offset: int = 0
    ) -> list[MemoryItem]:
        """Live facts, newest first, optionally only those with all ``tags``."""
        wanted = sorted(set(tags or []))
        where = "k.deleted_at IS NULL"
        params: list[Any] = []
        if wanted:
            marks = ", ".join("?" for _ in wanted)
            where += (
                " AND (SELECT COUNT(*) FROM memory_tags t WHERE t.memory_id = k.id "
                f"AND t.tag IN ({marks})) = ?"
            )
            params.extend([*wanted, len(wanted)])
        async with self.db.read() as conn:
            rows = await conn.execute_fetchall(
                f"SELECT {MEMORY_COLUMNS} FROM memories k WHERE {where} "
                "ORDER BY k.seq DESC LIMIT ? OFFSET ?",
                (*params, limit, offset),
            )
        return [memory_from_row(r) for r in rows]

    # -- search -----------------------------------------------------------------------
    async def search(self, query: SearchQuery) -> list[SearchHit]:
        """FTS5 search with bm25 ranking and highlighted snippets."""
        async with self.db.read() as conn:
            return await fts.search(conn, query)

    # -- trash ------------------------------------------------------------------------
    async def delete(self, kind: TrashKind, item_id: str) -> None:
        """Soft-delete a conversation, a message (and its subtree) or a memory."""
        now = time.time()
        async with self.db.write() as conn:
            if kind == "conversation":
                await trash.delete_conversation(conn, item_id, now)
            elif kind == "memory":
                await trash.delete_memory(conn, item_id, now)
            else:
                await trash.delete_message(conn, item_id, now)

    async def restore(self, kind: TrashKind, item_id: str) -> None:
        """Bring a soft-deleted item back."""
        async with self.db.write() as conn:
            if kind == "conversation":
                await trash.restore_conversation(conn, item_id)
            elif kind == "memory":
                await trash.restore_memory(conn, item_id)
            else:
                await trash.restore_message(conn, item_id, time.time())

    async def list_trash(self) -> list[TrashItem]:
        """What is in the trash, most recently deleted first."""
        async with self.db.read() as conn:
            return await trash.list_trash(conn)

    async def purge(self, older_than: float | None = None) -> int:
        """Really remove trashed items deleted before ``older_than`` (all when None)."""
        async with self.db.write() as conn:
            return await trash.purge(conn, older_than)
