"""The memory backend contract: conversations as trees, memories, search, trash.

A conversation is a forest of messages (each has a ``parent_id``; ``None`` makes
a root); the conversation's ``current_leaf_id`` selects the active branch.
Editing a message adds a sibling; nothing is overwritten. Deletes are soft until
purged.

The tree rules every backend follows (the contract tests in
``tests/memory/test_contract.py`` check them against a simple model):

- A message is *live* when neither it nor its conversation is in the trash.
  Deleting a message moves it and its live descendants to the trash as one
  item; restoring it brings back exactly that group (descendants trashed
  separately stay in the trash as their own items).
- ``append_message`` attaches under ``parent_id`` (default: the current leaf;
  ``None`` with no current leaf makes a new root) and the new message becomes
  the current leaf. ``edit_message`` attaches under the edited message's parent
  with the same role and also becomes the current leaf.
- When a delete takes the current leaf away, the deleted message's parent
  becomes the current leaf; when it was a root, the most recently added live
  leaf does (or none). Restore never moves a current leaf, except that a
  conversation without one gets the most recently added live leaf.
- A message can be restored only when its conversation and its parent are live.

Backends implement :class:`MemoryBackend`; the built-in one is SQLite
(``plugins/sqlite_memory``), and :mod:`llf_host.testing` ships an in-memory one
(``InMemoryBackend``) that proves the contract is backend-neutral.
"""

from __future__ import annotations

import abc
import re
import unicodedata
from collections.abc import Callable
from typing import Annotated
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
    "ParsedQuery",
    "QueryTerm",
    "SearchHit",
    "SearchQuery",
    "StoredMessage",
    "TrashItem",
    "TrashKind",
    "search_words",
]

TrashKind = Literal["conversation", "message", "memory"]
#: Called by long imports with the number of messages written so far.
ProgressCallback = Callable[[int], None]


class Conversation(msgspec.Struct, omit_defaults=True):
    """A conversation: its id, title, active leaf and timestamps (epoch seconds).

    ``message_count`` counts live messages over every branch.
    """

    id: str
    title: str = ""
    current_leaf_id: str | None = None
    created_at: float = 0.0
    updated_at: float = 0.0
    message_count: int = 0
    metadata: dict[str, Any] = msgspec.field(default_factory=dict)
    deleted_at: float | None = None


class StoredMessage(msgspec.Struct, omit_defaults=True):
    """A message as stored: the chat message plus tree position and bookkeeping.

    An edited message's replacement carries ``metadata["edited_from"]`` (the id
    of the message it replaces).
    """

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


# -- search ----------------------------------------------------------------------------
_WORD_RE = re.compile(r"[^\W_]+")
_QUERY_TOKEN_RE = re.compile(r'-?"[^"]*"?\*?|[^\s"]+')


def search_words(text: str) -> list[str]:
    """Split ``text`` into search words: lower case, accents removed, punctuation dropped.

    This is the tokenisation every backend matches against (SQLite FTS5's
    ``unicode61 remove_diacritics 2`` tokenizer behaves the same way).
    """
    decomposed = unicodedata.normalize("NFKD", text.lower())
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return _WORD_RE.findall(stripped)


class QueryTerm(msgspec.Struct, frozen=True):
    """One word or phrase of a query; with ``prefix`` the last word matches as a prefix."""

    words: tuple[str, ...]
    prefix: bool = False


class ParsedQuery(msgspec.Struct, frozen=True):
    """A query in normal form: every group must match (one term of it), no excluded term may."""

    groups: tuple[tuple[QueryTerm, ...], ...] = ()
    excluded: tuple[QueryTerm, ...] = ()

    @property
    def empty(self) -> bool:
        """True when nothing is required (a query of only punctuation or exclusions)."""
        return not self.groups


def _term(token: str) -> tuple[QueryTerm | None, bool]:
    """The term for one query token, and whether it is excluded (``-word``)."""
    excluded = token.startswith("-") and len(token) > 1
    if excluded:
        token = token[1:]
    prefix = token.endswith("*")
    words = tuple(search_words(token.rstrip("*")))
    if not words:
        return None, excluded
    return QueryTerm(words, prefix=prefix), excluded


def parse_query(text: str) -> ParsedQuery:
    """Parse the simple search syntax (see :class:`SearchQuery`)."""
    tokens = _QUERY_TOKEN_RE.findall(text)
    groups: list[list[QueryTerm]] = []
    excluded: list[QueryTerm] = []
    join_next = False  # an OR is waiting for its right-hand term
    after_required = False  # the previous token was a required term
    for index, token in enumerate(tokens):
        is_last = index == len(tokens) - 1
        if token == "OR" and after_required and not is_last:
            join_next = True
            after_required = False
            continue
        term, negated = _term(token)
        if term is None:
            continue
        if negated:
            excluded.append(term)
        elif join_next:
            groups[-1].append(term)
        else:
            groups.append([term])
        after_required = not negated
        join_next = False
    return ParsedQuery(tuple(tuple(g) for g in groups), tuple(excluded))


Limit = Annotated[int, msgspec.Meta(ge=1, le=1000)]
Offset = Annotated[int, msgspec.Meta(ge=0)]


class SearchQuery(msgspec.Struct, omit_defaults=True, forbid_unknown_fields=True):
    """A full-text query with optional filters; times are epoch seconds.

    The syntax is the same for every backend: words are matched case- and
    accent-insensitively and all must occur (``kubernetes ingress``);
    ``"exact phrase"``; ``prefix*``; ``a OR b`` (either, binds tighter than the
    implied AND); ``-word`` or ``-"a phrase"`` excludes. Punctuation is ignored.

    A filter that does not apply to a kind excludes that kind: ``tags`` only
    matches memories; ``conversation_id``, ``role`` and ``model`` only messages.
    Snippets wrap each match in ``highlight_start``/``highlight_end``.
    """

    text: str
    scope: Literal["messages", "memories", "all"] = "all"
    conversation_id: str | None = None
    role: str | None = None
    model: str | None = None
    tags: list[str] | None = None
    since: float | None = None
    until: float | None = None
    limit: Limit = 20
    offset: Offset = 0
    highlight_start: str = "["
    highlight_end: str = "]"

    def parse(self) -> ParsedQuery:
        """The query in normal form, for backends to translate."""
        return parse_query(self.text)

    def wants(self, kind: Literal["message", "memory"]) -> bool:
        """Whether hits of ``kind`` can match, given the scope and the filters."""
        if kind == "message":
            return self.scope in ("messages", "all") and self.tags is None
        return (
            self.scope in ("memories", "all")
            and self.conversation_id is None
            and self.role is None
            and self.model is None
        )


class SearchHit(msgspec.Struct, omit_defaults=True):
    """One search result; ``snippet`` wraps matches in the query's highlight marks.

    ``rank`` is higher for better matches; only the order is meaningful.
    """

    kind: Literal["message", "memory"]
    id: str
    snippet: str
    rank: float = 0.0
    conversation_id: str | None = None
    role: str | None = None
    model: str | None = None
    tags: list[str] | None = None
    created_at: float = 0.0


class TrashItem(msgspec.Struct, omit_defaults=True):
    """Something soft-deleted, restorable until purged.

    For a message, ``count`` is how many messages the item holds (the message
    and the descendants deleted with it).
    """

    kind: TrashKind
    id: str
    title: str
    deleted_at: float
    conversation_id: str | None = None
    count: int = 1


class ConversationExport(msgspec.Struct, omit_defaults=True):
    """A conversation with every message of its tree, as exporters receive it.

    ``messages`` are ordered parents before children.
    """

    conversation: Conversation
    messages: list[StoredMessage]


class MemoryBackend(abc.ABC):
    """Stores conversations (as trees) and memories; searches and trashes them.

    Every method is async and may raise :class:`~llf_host.MemoryStoreError` or
    :class:`~llf_host.ConversationNotFoundError` (unknown or trashed id). Ids are
    opaque strings chosen by the backend. The tree rules are in this module's
    docstring.
    """

    #: Name used in config (``[host] memory_backend = "sqlite"``) and listings.
    name: str = ""

    async def open(self) -> None:  # noqa: B027 - optional hook, empty by design
        """Open files/connections and run migrations. Called once before first use."""

    async def aclose(self) -> None:  # noqa: B027 - optional hook, empty by design
        """Close files/connections. May be called more than once."""

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
        """One live message by id."""

    @abc.abstractmethod
    async def history(
        self, conversation_id: str, leaf_id: str | None = None
    ) -> list[StoredMessage]:
        """Root-to-leaf path ending at ``leaf_id`` (default: the current leaf)."""

    @abc.abstractmethod
    async def tree(self, conversation_id: str) -> list[StoredMessage]:
        """Every live message of the conversation, in the order they were added."""

    @abc.abstractmethod
    async def branches(self, conversation_id: str) -> list[StoredMessage]:
        """The leaves of the tree (one per branch), in the order they were added."""

    @abc.abstractmethod
    async def switch_branch(self, conversation_id: str, leaf_id: str) -> Conversation:
        """Make ``leaf_id`` (any live message of the conversation) the current leaf."""

    @abc.abstractmethod
    async def edit_message(
        self, message_id: str, content: str, metadata: dict[str, Any] | None = None
    ) -> StoredMessage:
        """Add a sibling of ``message_id`` with new content and make it the current leaf."""

    @abc.abstractmethod
    async def import_conversation(
        self, export: ConversationExport, *, on_progress: ProgressCallback | None = None
    ) -> Conversation:
        """Store a whole conversation at once (an import), under new ids.

        Keeps the tree shape, the current leaf, roles, contents, timestamps and
        bookkeeping; ``metadata["imported_from"]`` holds the original id.
        Messages must come parents first. All or nothing.
        """

    async def export_conversation(self, conversation_id: str) -> ConversationExport:
        """The conversation and every live message of its tree (for exporters)."""
        conversation = await self.get_conversation(conversation_id)
        return ConversationExport(conversation, await self.tree(conversation_id))

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
    async def get_memory(self, memory_id: str) -> MemoryItem:
        """One stored fact (not in the trash)."""

    @abc.abstractmethod
    async def list_memories(
        self, tags: list[str] | None = None, limit: int = 50, offset: int = 0
    ) -> list[MemoryItem]:
        """Stored facts, newest first, optionally only those with all ``tags``."""

    # search ----------------------------------------------------------------
    @abc.abstractmethod
    async def search(self, query: SearchQuery) -> list[SearchHit]:
        """Full-text search over live messages and/or memories, best first."""

    # trash -----------------------------------------------------------------
    @abc.abstractmethod
    async def delete(self, kind: TrashKind, item_id: str) -> None:
        """Soft-delete a conversation, a message (and its subtree) or a memory."""

    @abc.abstractmethod
    async def restore(self, kind: TrashKind, item_id: str) -> None:
        """Bring a soft-deleted item back (see the module docstring for messages)."""

    @abc.abstractmethod
    async def list_trash(self) -> list[TrashItem]:
        """What is in the trash, most recently deleted first."""

    @abc.abstractmethod
    async def purge(self, older_than: float | None = None) -> int:
        """Really remove trash items deleted before ``older_than`` (all when None).

        Rows and their search-index entries are gone afterwards; returns the
        number of trash items removed.
        """
