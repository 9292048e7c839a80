"""The memory backend contract: conversations as trees, memories, search, trash.

A conversation is a tree of messages (each has a ``parent_id``); the
conversation's ``current_leaf_id`` selects the active branch. Editing a message
adds a sibling; nothing is overwritten. Deletes are soft until purged.

Backends implement :class:`MemoryBackend`; the built-in one is SQLite
(``plugins/sqlite_memory``), and :class:`~llf_host.testing` ships an in-memory one
that proves the contract is backend-neutral.
"""

from __future__ import annotations

import abc
from typing import Any
from typing import Literal

import msgspec

from ._types import Message
from ._types import Timings
from ._types import Usage

__all__ = [
    "Conversation",
    "ConversationExport",
    "MemoryBackend",
    "MemoryItem",
    "SearchHit",
    "SearchQuery",
    "StoredMessage",
    "TrashItem",
]

TrashKind = Literal["conversation", "message", "memory"]


class Conversation(msgspec.Struct, omit_defaults=True):
    """A conversation: its id, title, active leaf and timestamps (epoch seconds)."""

    id: str
    title: str = ""
    current_leaf_id: str | None = None
    created_at: float = 0.0
    updated_at: float = 0.0
    message_count: int = 0
    metadata: dict[str, Any] = msgspec.field(default_factory=dict)
    deleted_at: float | None = None


class StoredMessage(msgspec.Struct, omit_defaults=True):
    """A message as stored: the chat message plus tree position and bookkeeping."""

    id: str
    conversation_id: str
    message: Message
    parent_id: str | None = None
    model: str | None = None
    usage: Usage | None = None
    timings: Timings | None = None
    cost: float | None = None
    created_at: float = 0.0
    metadata: dict[str, Any] = msgspec.field(default_factory=dict)
    deleted_at: float | None = None


class MemoryItem(msgspec.Struct, omit_defaults=True):
    """A fact stored for later: content, tags, where it came from."""

    id: str
    content: str
    tags: list[str] = msgspec.field(default_factory=list)
    source: str | None = None
    created_at: float = 0.0
    updated_at: float = 0.0
    metadata: dict[str, Any] = msgspec.field(default_factory=dict)
    deleted_at: float | None = None


class SearchQuery(msgspec.Struct, omit_defaults=True, forbid_unknown_fields=True):
    """A full-text query with optional filters; times are epoch seconds."""

    text: str
    scope: Literal["messages", "memories", "all"] = "all"
    conversation_id: str | None = None
    role: str | None = None
    model: str | None = None
    tags: list[str] | None = None
    since: float | None = None
    until: float | None = None
    limit: int = 20
    offset: int = 0


class SearchHit(msgspec.Struct, omit_defaults=True):
    """One search result; ``snippet`` marks matches with ``[`` and ``]``."""

    kind: Literal["message", "memory"]
    id: str
    snippet: str
    rank: float = 0.0
    conversation_id: str | None = None
    role: str | None = None
    created_at: float = 0.0


class TrashItem(msgspec.Struct, omit_defaults=True):
    """Something soft-deleted, restorable until purged."""

    kind: TrashKind
    id: str
    title: str
    deleted_at: float
    conversation_id: str | None = None


class ConversationExport(msgspec.Struct, omit_defaults=True):
    """A conversation with every message of its tree, as exporters receive it."""

    conversation: Conversation
    messages: list[StoredMessage]


class MemoryBackend(abc.ABC):
    """Stores conversations (as trees) and memories; searches and trashes them.

    Every method is async and may raise :class:`~llf_host.MemoryStoreError` or
    :class:`~llf_host.ConversationNotFoundError`. Ids are opaque strings chosen by
    the backend.
    """

    #: Name used in config (``[host] memory_backend = "sqlite"``) and listings.
    name: str = ""

    async def open(self) -> None:  # noqa: B027 - optional hook, empty by design
        """Open files/connections and run migrations. Called once before first use."""

    async def aclose(self) -> None:  # noqa: B027 - optional hook, empty by design
        """Close files/connections."""

    # conversations -------------------------------------------------------
    @abc.abstractmethod
    async def create_conversation(
        self, title: str = "", metadata: dict[str, Any] | None = None
    ) -> Conversation:
        """Create an empty conversation."""

    @abc.abstractmethod
    async def get_conversation(self, conversation_id: str) -> Conversation:
        """One conversation (not in the trash)."""

    @abc.abstractmethod
    async def list_conversations(self, limit: int = 50, offset: int = 0) -> list[Conversation]:
        """Conversations, most recently updated first, trash excluded."""

    @abc.abstractmethod
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

    @abc.abstractmethod
    async def get_message(self, message_id: str) -> StoredMessage:
        """One message by id."""

    @abc.abstractmethod
    async def history(
        self, conversation_id: str, leaf_id: str | None = None
    ) -> list[StoredMessage]:
        """Root-to-leaf path ending at ``leaf_id`` (default: the current leaf)."""

    @abc.abstractmethod
    async def tree(self, conversation_id: str) -> list[StoredMessage]:
        """Every live message of the conversation, parents before children."""

    @abc.abstractmethod
    async def branches(self, conversation_id: str) -> list[StoredMessage]:
        """The leaves of the tree: one per branch."""

    @abc.abstractmethod
    async def switch_branch(self, conversation_id: str, leaf_id: str) -> Conversation:
        """Make ``leaf_id`` (any message of the conversation) the current leaf."""

    @abc.abstractmethod
    async def edit_message(
        self, message_id: str, content: str, metadata: dict[str, Any] | None = None
    ) -> StoredMessage:
        """Add a sibling of ``message_id`` with new content and make it the current leaf."""

    # memories ------------------------------------------------------------
    @abc.abstractmethod
    async def add_memory(
        self,
        content: str,
        *,
        tags: list[str] | None = None,
        source: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> MemoryItem:
        """Store a fact."""

    @abc.abstractmethod
    async def list_memories(
        self, tags: list[str] | None = None, limit: int = 50, offset: int = 0
    ) -> list[MemoryItem]:
        """Stored facts, newest first, optionally only those with all ``tags``."""

    # search ----------------------------------------------------------------
    @abc.abstractmethod
    async def search(self, query: SearchQuery) -> list[SearchHit]:
        """Full-text search over messages and/or memories, best first."""

    # trash -----------------------------------------------------------------
    @abc.abstractmethod
    async def delete(self, kind: TrashKind, item_id: str) -> None:
        """Soft-delete a conversation, a message (and its subtree) or a memory."""

    @abc.abstractmethod
    async def restore(self, kind: TrashKind, item_id: str) -> None:
        """Bring a soft-deleted item back."""

    @abc.abstractmethod
    async def list_trash(self) -> list[TrashItem]:
        """What is in the trash, most recently deleted first."""

    @abc.abstractmethod
    async def purge(self, older_than: float | None = None) -> int:
        """Remove trashed items deleted before ``older_than`` (all when None); returns count."""
