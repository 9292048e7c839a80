"""A tiny in-memory :class:`~llf_host.MemoryBackend`: the contract, without a database.

It exists to prove the contract is backend-neutral (the contract tests run
against it and against SQLite) and to give plugin and client tests a memory
backend that needs no files::

    from llf_host.testing import InMemoryBackend

    backend = InMemoryBackend()
    conv = await backend.create_conversation("notes")
    await backend.append_message(conv.id, Message(role="user", content="hi"))

Everything lives in dicts; search is a linear scan with the same query syntax
and tokenisation as every backend (:meth:`~llf_host.SearchQuery.parse`).
"""

from __future__ import annotations

import itertools
import time
from typing import Any
from typing import final

from msgspec import structs

from ._errors import ConversationNotFoundError
from ._errors import MemoryStoreError
from ._memory_contract import Conversation
from ._memory_contract import ConversationExport
from ._memory_contract import MemoryBackend
from ._memory_contract import MemoryItem
from ._memory_contract import ParsedQuery
from ._memory_contract import ProgressCallback
from ._memory_contract import SearchHit
from ._memory_contract import SearchQuery
from ._memory_contract import StoredMessage
from ._memory_contract import TrashItem
from ._memory_contract import TrashKind
from ._memory_contract import search_words
from ._memory_match import score as match_score
from ._memory_match import snippet as match_snippet
from ._types import Message
from ._types import Timings
from ._types import Usage

__all__ = ["InMemoryBackend"]


class _Row:
    """A message plus what the tree needs: insertion order and trash state."""

    __slots__ = ("deleted_by", "seq", "stored")

    def __init__(self, stored: StoredMessage, seq: int) -> None:
        self.stored = stored
        self.seq = seq
        self.deleted_by: str | None = None


@final
class InMemoryBackend(MemoryBackend):
    """Conversations, memories, search and trash in Python dicts (for tests)."""

    name = "memory"

    def __init__(self) -> None:
        self._conversations: dict[str, Conversation] = {}
        self._rows: dict[str, _Row] = {}
        self._memories: dict[str, MemoryItem] = {}
        self._seq = itertools.count(1)
        self.opened = 0
        self.closed = 0

    async def open(self) -> None:
        """Count opens (tests check the host opens a backend once)."""
        self.opened += 1

    async def aclose(self) -> None:
        """Count closes."""
        self.closed += 1

    # -- lookups ------------------------------------------------------------------
    def _conversation(self, conversation_id: str) -> Conversation:
        conv = self._conversations.get(conversation_id)
        if conv is None or conv.deleted_at is not None:
            raise ConversationNotFoundError(
                f"no conversation {conversation_id!r}",
                hint="list conversations with `llf-host conversations list`; "
                "deleted ones are in `llf-host trash list`",
                conversation_id=conversation_id,
            )
        return conv

    def _live(self, message_id: str, conversation_id: str | None = None) -> _Row:
        row = self._rows.get(message_id)
        conv = self._conversations.get(row.stored.conversation_id) if row else None
        if (
            row is None
            or row.stored.deleted_at is not None
            or conv is None
            or conv.deleted_at is not None
            or (conversation_id is not None and row.stored.conversation_id != conversation_id)
        ):
            raise ConversationNotFoundError(
                f"no message {message_id!r}"
                + (f" in conversation {conversation_id!r}" if conversation_id else ""),
                hint="see the conversation's messages with `llf-host conversations show`",
                message_id=message_id,
                conversation_id=conversation_id,
            )
        return row

    def _live_rows(self, conversation_id: str) -> list[_Row]:
        return sorted(
            (
                r
                for r in self._rows.values()
                if r.stored.conversation_id == conversation_id and r.stored.deleted_at is None
            ),
            key=lambda r: r.seq,
        )

    def _leaves(self, conversation_id: str) -> list[_Row]:
        rows = self._live_rows(conversation_id)
        parents = {r.stored.parent_id for r in rows}
        return [r for r in rows if r.stored.id not in parents]

    def _with_count(self, conv: Conversation) -> Conversation:
        return structs.replace(conv, message_count=len(self._live_rows(conv.id)))

    def _touch(self, conversation_id: str, **changes: Any) -> None:
        conv = self._conversations[conversation_id]
        self._conversations[conversation_id] = structs.replace(
            conv, updated_at=time.time(), **changes
        )

    # -- conversations --------------------------------------------------------------
    async def create_conversation(
        self, title: str = "", metadata: dict[str, Any] | None = None
    ) -> Conversation:
        """Create an empty conversation."""
        now = time.time()
        conv = Conversation(
            id=f"conv-{next(self._seq)}",
            title=title,
            created_at=now,
            updated_at=now,
            metadata=dict(metadata or {}),
        )
        self._conversations[conv.id] = conv
        return conv

    async def get_conversation(self, conversation_id: str) -> Conversation:
        """One live conversation."""
        return self._with_count(self._conversation(conversation_id))

    async def list_conversations(self, limit: int = 50, offset: int = 0) -> list[Conversation]:
        """Live conversations, most recently updated first."""
        live = [c for c in self._conversations.values() if c.deleted_at is None]
        live.sort(key=lambda c: (c.updated_at, c.id), reverse=True)
        return [self._with_count(c) for c in live[offset : offset + limit]]

    def _add_row(self, stored: StoredMessage) -> StoredMessage:
        self._rows[stored.id] = _Row(stored, next(self._seq))
        return stored

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
        """Add a message under ``parent_id`` (default: the current leaf)."""
        conv = self._conversation(conversation_id)
        parent = parent_id if parent_id is not None else conv.current_leaf_id
        if parent is not None:
            self._live(parent, conversation_id)
        stored = self._add_row(
            StoredMessage(
                id=f"msg-{next(self._seq)}",
                conversation_id=conversation_id,
                message=message,
                parent_id=parent,
                model=model,
                usage=usage,
                timings=timings,
                cost=cost,
                created_at=time.time(),
                metadata=dict(metadata or {}),
            )
        )
        self._touch(conversation_id, current_leaf_id=stored.id)
        return stored

    async def get_message(self, message_id: str) -> StoredMessage:
        """One live message."""
        return self._live(message_id).stored

    async def history(
        self, conversation_id: str, leaf_id: str | None = None
    ) -> list[StoredMessage]:
        """Root-to-leaf path."""
        conv = self._conversation(conversation_id)
        leaf = leaf_id if leaf_id is not None else conv.current_leaf_id
        path: list[StoredMessage] = []
        current = leaf
        while current is not None:
            stored = self._live(current, conversation_id).stored
            path.append(stored)
            current = stored.parent_id
        return path[::-1]

    async def tree(self, conversation_id: str) -> list[StoredMessage]:
        """Every live message, in insertion order."""
        self._conversation(conversation_id)
        return [r.stored for r in self._live_rows(conversation_id)]

    async def branches(self, conversation_id: str) -> list[StoredMessage]:
        """The leaves."""
        self._conversation(conversation_id)
        return [r.stored for r in self._leaves(conversation_id)]

    async def switch_branch(self, conversation_id: str, leaf_id: str) -> Conversation:
        """Make ``leaf_id`` current."""
        self._conversation(conversation_id)
        self._live(leaf_id, conversation_id)
        self._touch(conversation_id, current_leaf_id=leaf_id)
        return await self.get_conversation(conversation_id)

    async def edit_message(
        self, message_id: str, content: str, metadata: dict[str, Any] | None = None
    ) -> StoredMessage:
        """Add an edited sibling and make it current."""
        old = self._live(message_id).stored
        stored = self._add_row(
            StoredMessage(
                id=f"msg-{next(self._seq)}",
                conversation_id=old.conversation_id,
                message=Message(role=old.message.role, content=content, name=old.message.name),
                parent_id=old.parent_id,
                created_at=time.time(),
                metadata={**(metadata or {}), "edited_from": message_id},
            )
        )
        self._touch(old.conversation_id, current_leaf_id=stored.id)
        return stored

    async def import_conversation(
        self, export: ConversationExport, *, on_progress: ProgressCallback | None = None
    ) -> Conversation:
        """Store a whole conversation under new ids."""
        now = time.time()
        source = export.conversation
        conv_id = f"conv-{next(self._seq)}"
        mapping: dict[str, str] = {}
        rows: list[StoredMessage] = []
        for item in export.messages:
            parent = None
            if item.parent_id is not None:
                if item.parent_id not in mapping:
                    raise MemoryStoreError(
                        f"message {item.id!r} refers to parent {item.parent_id!r}, which does "
                        "not come before it in the import",
                        hint="list messages parents first; the import was not stored",
                        message_id=item.id,
                    )
                parent = mapping[item.parent_id]
            new_id = f"msg-{next(self._seq)}"
            mapping[item.id] = new_id
            rows.append(
                structs.replace(
                    item,
                    id=new_id,
                    conversation_id=conv_id,
                    parent_id=parent,
                    deleted_at=None,
                    created_at=item.created_at or now,
                )
            )
        for stored in rows:
            self._add_row(stored)
        if on_progress is not None:
            on_progress(len(rows))
        leaf = mapping.get(source.current_leaf_id or "")
        conv = Conversation(
            id=conv_id,
            title=source.title,
            current_leaf_id=leaf,
            created_at=source.created_at or now,
            updated_at=source.updated_at or source.created_at or now,
            metadata={**source.metadata, "imported_from": source.id},
        )
        self._conversations[conv_id] = conv
        if leaf is None:
            leaves = self._leaves(conv_id)
            self._conversations[conv_id] = structs.replace(
                conv, current_leaf_id=leaves[-1].stored.id if leaves else None
            )
        return await self.get_conversation(conv_id)

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
            id=f"mem-{next(self._seq)}",
            content=content,
            tags=list(dict.fromkeys(tags or [])),
            source=source,
            created_at=now,
            updated_at=now,
            metadata=dict(metadata or {}),
        )
        self._memories[item.id] = item
        return item

    async def get_memory(self, memory_id: str) -> MemoryItem:
        """One live fact."""
        item = self._memories.get(memory_id)
        if item is None or item.deleted_at is not None:
            raise ConversationNotFoundError(
                f"no memory {memory_id!r}",
                hint="list memories with memory/list; deleted ones are in the trash",
                memory_id=memory_id,
            )
        return item

    async def list_memories(
        self, tags: list[str] | None = None, limit: int = 50, offset: int = 0
    ) -> list[MemoryItem]:
        """Live facts, newest first."""
        wanted = set(tags or [])
        live = [
            m
            for m in reversed(self._memories.values())
            if m.deleted_at is None and wanted <= set(m.tags)
        ]
        return live[offset : offset + limit]

    # -- search -------------------------------------------------------------------
    async def search(self, query: SearchQuery) -> list[SearchHit]:
        """A linear scan with the shared query syntax."""
        parsed = query.parse()
        if parsed.empty:
            return []
        found: list[tuple[float, int, SearchHit]] = []
        if query.wants("message"):
            found.extend(self._search_messages(query, parsed))
        if query.wants("memory"):
            found.extend(self._search_memories(query, parsed))
        found.sort(key=lambda f: (-f[0], -f[1]))
        return [hit for _, _, hit in found[query.offset : query.offset + query.limit]]

    def _in_range(self, query: SearchQuery, created_at: float) -> bool:
        if query.since is not None and created_at < query.since:
            return False
        return query.until is None or created_at < query.until

    def _search_messages(
        self, query: SearchQuery, parsed: ParsedQuery
    ) -> list[tuple[float, int, SearchHit]]:
        found: list[tuple[float, int, SearchHit]] = []
        for row in self._rows.values():
            stored = row.stored
            conv = self._conversations[stored.conversation_id]
            if stored.deleted_at is not None or conv.deleted_at is not None:
                continue
            if query.conversation_id not in (None, stored.conversation_id):
                continue
            if query.role not in (None, stored.message.role):
                continue
            if query.model not in (None, stored.model):
                continue
            if not self._in_range(query, stored.created_at):
                continue
            text = stored.message.content or ""
            score = match_score(search_words(text), parsed)
            if score is None:
                continue
            hit = SearchHit(
                kind="message",
                id=stored.id,
                snippet=match_snippet(text, parsed, query.highlight_start, query.highlight_end),
                rank=score,
                conversation_id=stored.conversation_id,
                role=stored.message.role,
                model=stored.model,
                created_at=stored.created_at,
            )
            found.append((score, row.seq, hit))
        return found

    def _search_memories(
        self, query: SearchQuery, parsed: ParsedQuery
    ) -> list[tuple[float, int, SearchHit]]:
        found: list[tuple[float, int, SearchHit]] = []
        wanted = set(query.tags or [])
        for order, item in enumerate(self._memories.values()):
            if item.deleted_at is not None or not wanted <= set(item.tags):
                continue
            if not self._in_range(query, item.created_at):
                continue
            score = match_score(search_words(f"{item.content} {' '.join(item.tags)}"), parsed)
            if score is None:
                continue
            hit = SearchHit(
                kind="memory",
                id=item.id,
                snippet=match_snippet(
                    item.content, parsed, query.highlight_start, query.highlight_end
                ),
                rank=score,
                tags=list(item.tags),
                created_at=item.created_at,
            )
            found.append((score, order, hit))
        return found

    # -- trash --------------------------------------------------------------------
    async def delete(self, kind: TrashKind, item_id: str) -> None:
        """Soft-delete one item."""
        now = time.time()
        if kind == "conversation":
            conv = self._conversation(item_id)
            self._conversations[item_id] = structs.replace(conv, deleted_at=now)
        elif kind == "memory":
            item = await self.get_memory(item_id)
            self._memories[item_id] = structs.replace(item, deleted_at=now)
        else:
            self._delete_message(item_id, now)

    def _delete_message(self, message_id: str, now: float) -> None:
        root = self._live(message_id)
        conv_id = root.stored.conversation_id
        group = {message_id}
        for row in self._live_rows(conv_id):
            if row.stored.parent_id in group:
                group.add(row.stored.id)
        for member in group:
            row = self._rows[member]
            row.stored = structs.replace(row.stored, deleted_at=now)
            row.deleted_by = message_id
        current = self._conversations[conv_id].current_leaf_id
        if current in group:
            current = root.stored.parent_id
            if current is None:
                leaves = self._leaves(conv_id)
                current = leaves[-1].stored.id if leaves else None
        self._touch(conv_id, current_leaf_id=current)

    async def restore(self, kind: TrashKind, item_id: str) -> None:
        """Bring one trashed item back."""
        if kind == "conversation":
            conv = self._conversations.get(item_id)
            if conv is None or conv.deleted_at is None:
                raise _not_in_trash(kind, item_id)
            self._conversations[item_id] = structs.replace(conv, deleted_at=None)
        elif kind == "memory":
            item = self._memories.get(item_id)
            if item is None or item.deleted_at is None:
                raise _not_in_trash(kind, item_id)
            self._memories[item_id] = structs.replace(item, deleted_at=None)
        else:
            self._restore_message(item_id)

    def _restore_message(self, message_id: str) -> None:
        root = self._rows.get(message_id)
        if root is None or root.deleted_by != message_id:
            raise _not_in_trash("message", message_id)
        conv_id = root.stored.conversation_id
        if self._conversations[conv_id].deleted_at is not None:
            raise _blocked_restore(message_id, "conversation", conv_id)
        parent = root.stored.parent_id
        if parent is not None and self._rows[parent].stored.deleted_at is not None:
            raise _blocked_restore(message_id, "message", parent)
        for row in self._rows.values():
            if row.deleted_by == message_id:
                row.stored = structs.replace(row.stored, deleted_at=None)
                row.deleted_by = None
        conv = self._conversations[conv_id]
        current = conv.current_leaf_id
        if current is None:
            leaves = self._leaves(conv_id)
            current = leaves[-1].stored.id if leaves else None
        self._touch(conv_id, current_leaf_id=current)

    async def list_trash(self) -> list[TrashItem]:
        """Trashed conversations, message groups and memories, newest first."""
        items: list[TrashItem] = []
        for conv in self._conversations.values():
            if conv.deleted_at is not None:
                items.append(TrashItem("conversation", conv.id, conv.title, conv.deleted_at))
        for row in self._rows.values():
            if row.deleted_by == row.stored.id and row.stored.deleted_at is not None:
                count = sum(1 for r in self._rows.values() if r.deleted_by == row.stored.id)
                items.append(
                    TrashItem(
                        "message",
                        row.stored.id,
                        (row.stored.message.content or "")[:80],
                        row.stored.deleted_at,
                        conversation_id=row.stored.conversation_id,
                        count=count,
                    )
                )
        for item in self._memories.values():
            if item.deleted_at is not None:
                items.append(TrashItem("memory", item.id, item.content[:80], item.deleted_at))
        items.sort(key=lambda t: t.deleted_at, reverse=True)
        return items

    async def purge(self, older_than: float | None = None) -> int:
        """Really remove trashed items deleted before ``older_than``."""
        before = len(await self.list_trash())

        def expired(deleted_at: float | None) -> bool:
            return deleted_at is not None and (older_than is None or deleted_at < older_than)

        for conv in list(self._conversations.values()):
            if expired(conv.deleted_at):
                del self._conversations[conv.id]
                for row in list(self._rows.values()):
                    if row.stored.conversation_id == conv.id:
                        del self._rows[row.stored.id]
        doomed = {
            r.stored.id
            for r in self._rows.values()
            if r.deleted_by == r.stored.id and expired(r.stored.deleted_at)
        }
        for row in sorted(self._rows.values(), key=lambda r: r.seq):
            if row.stored.parent_id in doomed:
                doomed.add(row.stored.id)
        for message_id in doomed:
            del self._rows[message_id]
        for item in list(self._memories.values()):
            if expired(item.deleted_at):
                del self._memories[item.id]
        return before - len(await self.list_trash())


def _not_in_trash(kind: str, item_id: str) -> ConversationNotFoundError:
    return ConversationNotFoundError(
        f"no {kind} {item_id!r} in the trash",
        hint="see what can be restored with `llf-host trash list`",
        kind_of_item=kind,
        item_id=item_id,
    )


def _blocked_restore(message_id: str, blocker_kind: str, blocker_id: str) -> MemoryStoreError:
    return MemoryStoreError(
        f"message {message_id!r} cannot be restored while its {blocker_kind} "
        f"{blocker_id!r} is in the trash",
        hint=f"restore {blocker_kind} {blocker_id!r} first, then this message",
        message_id=message_id,
        blocked_by=blocker_id,
    )
