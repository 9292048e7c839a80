"""``conversations/*``, ``memory/*`` and ``trash/*``: the memory backend over the protocol.

Every handler goes through the host's memory service (the configured backend,
opened once, its calls guarded and bounded by the plugin's concurrency slot)
and returns the contract's structs (:class:`~llf_host.Conversation`,
:class:`~llf_host.StoredMessage`, ...) as JSON. Lists come wrapped in an object
(``{"conversations": [...]}``) so fields can be added later.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator
from typing import Annotated
from typing import Any
from typing import Literal

import msgspec

from ..._memory import memory_service
from ..._memory_contract import Conversation
from ..._memory_contract import ConversationExport
from ..._memory_contract import MemoryBackend
from ..._memory_contract import MemoryItem
from ..._memory_contract import SearchQuery
from ..._memory_contract import StoredMessage
from ..._types import Message
from ..._types import Timings
from ..._types import Usage
from ..dispatcher import InvalidParams
from ..dispatcher import plugin_slot
from ..registry import NoParams
from ..registry import RequestContext
from ..registry import rpc_method

__all__ = [
    "AddMemoryParams",
    "AppendParams",
    "ConversationParams",
    "ConversationSearchParams",
    "CreateParams",
    "EditParams",
    "HistoryParams",
    "ItemParams",
    "ListMemoriesParams",
    "MemoryIdParams",
    "MemorySearchParams",
    "PageParams",
    "PurgeParams",
    "SwitchParams",
    "TrashRestoreParams",
]

Limit = Annotated[int, msgspec.Meta(ge=1, le=1000)]
Offset = Annotated[int, msgspec.Meta(ge=0)]
_DAY = 86400.0


@contextlib.asynccontextmanager
async def _backend(ctx: RequestContext, what: str) -> AsyncIterator[MemoryBackend]:
    """The open backend, inside its plugin's concurrency slot and failure guard."""
    service = memory_service(ctx.host)
    backend = await service.backend()
    async with plugin_slot(ctx.host, service.plugin):
        with service.guarded(what):
            yield backend


# -- params ------------------------------------------------------------------------------
class CreateParams(msgspec.Struct, forbid_unknown_fields=True):
    """Params of ``conversations/create``."""

    title: str = ""
    metadata: dict[str, Any] = msgspec.field(default_factory=dict)


class PageParams(msgspec.Struct, forbid_unknown_fields=True):
    """Params of ``conversations/list``."""

    limit: Limit = 50
    offset: Offset = 0


class ConversationParams(msgspec.Struct, forbid_unknown_fields=True):
    """Params naming one conversation."""

    conversation_id: str


class HistoryParams(msgspec.Struct, forbid_unknown_fields=True):
    """Params of ``conversations/history``: default leaf is the current one."""

    conversation_id: str
    leaf_id: str | None = None


class SwitchParams(msgspec.Struct, forbid_unknown_fields=True):
    """Params of ``conversations/switch``."""

    conversation_id: str
    leaf_id: str


class EditParams(msgspec.Struct, forbid_unknown_fields=True):
    """Params of ``conversations/edit``."""

    message_id: str
    content: str
    metadata: dict[str, Any] = msgspec.field(default_factory=dict)


class AppendParams(msgspec.Struct, forbid_unknown_fields=True):
    """Params of ``conversations/append``: default parent is the current leaf."""

    conversation_id: str
    message: Message
    parent_id: str | None = None
    model: str | None = None
    usage: Usage | None = None
    timings: Timings | None = None
    cost: float | None = None
    metadata: dict[str, Any] = msgspec.field(default_factory=dict)


class ItemParams(msgspec.Struct, forbid_unknown_fields=True):
    """Params of ``conversations/delete`` and ``restore``: a whole conversation or a branch."""

    conversation_id: str
    message_id: str | None = None


class ConversationSearchParams(msgspec.Struct, forbid_unknown_fields=True):
    """Params of ``conversations/search`` (messages only; syntax in docs/memory.md)."""

    text: str
    conversation_id: str | None = None
    role: str | None = None
    model: str | None = None
    since: float | None = None
    until: float | None = None
    limit: Limit = 20
    offset: Offset = 0
    highlight_start: str = "["
    highlight_end: str = "]"


class AddMemoryParams(msgspec.Struct, forbid_unknown_fields=True):
    """Params of ``memory/add``."""

    content: str
    tags: list[str] = msgspec.field(default_factory=list)
    source: str | None = None
    metadata: dict[str, Any] = msgspec.field(default_factory=dict)


class ListMemoriesParams(msgspec.Struct, forbid_unknown_fields=True):
    """Params of ``memory/list``: only memories carrying every one of ``tags``."""

    tags: list[str] | None = None
    limit: Limit = 50
    offset: Offset = 0


class MemoryIdParams(msgspec.Struct, forbid_unknown_fields=True):
    """Params naming one memory."""

    memory_id: str


class MemorySearchParams(msgspec.Struct, forbid_unknown_fields=True):
    """Params of ``memory/search``."""

    text: str
    tags: list[str] | None = None
    since: float | None = None
    until: float | None = None
    limit: Limit = 20
    offset: Offset = 0
    highlight_start: str = "["
    highlight_end: str = "]"


class TrashRestoreParams(msgspec.Struct, forbid_unknown_fields=True):
    """Params of ``trash/restore``: an item as ``trash/list`` shows it."""

    kind: Literal["conversation", "message", "memory"]
    id: str


class PurgeParams(msgspec.Struct, forbid_unknown_fields=True):
    """Params of ``trash/purge``: default is the configured retention."""

    older_than_days: Annotated[float, msgspec.Meta(ge=0)] | None = None


def _check_text(text: str) -> None:
    if SearchQuery(text).parse().empty:
        raise InvalidParams(
            "text",
            f"{text!r} has no words to search for",
            'send words, "a phrase", prefix* or a OR b (docs/memory.md, Search syntax)',
        )


# -- conversations -------------------------------------------------------------------------
@rpc_method("conversations/create", params=CreateParams)
async def create(ctx: RequestContext, params: CreateParams) -> Conversation:
    """Create an empty conversation."""
    async with _backend(ctx, "create_conversation") as backend:
        return await backend.create_conversation(params.title, params.metadata)


@rpc_method("conversations/list", params=PageParams)
async def list_conversations(ctx: RequestContext, params: PageParams) -> dict[str, Any]:
    """Conversations, most recently updated first (trash excluded)."""
    async with _backend(ctx, "list_conversations") as backend:
        found = await backend.list_conversations(params.limit, params.offset)
    return {"conversations": found}


@rpc_method("conversations/get", params=ConversationParams)
async def get(ctx: RequestContext, params: ConversationParams) -> Conversation:
    """One conversation."""
    async with _backend(ctx, "get_conversation") as backend:
        return await backend.get_conversation(params.conversation_id)


@rpc_method("conversations/history", params=HistoryParams)
async def history(ctx: RequestContext, params: HistoryParams) -> dict[str, Any]:
    """The messages from the root to a leaf (default: the current leaf)."""
    async with _backend(ctx, "history") as backend:
        messages = await backend.history(params.conversation_id, params.leaf_id)
    return {"messages": messages}


@rpc_method("conversations/tree", params=ConversationParams)
async def tree(ctx: RequestContext, params: ConversationParams) -> ConversationExport:
    """The conversation and every message of its tree (parents first)."""
    async with _backend(ctx, "export_conversation") as backend:
        return await backend.export_conversation(params.conversation_id)


@rpc_method("conversations/branches", params=ConversationParams)
async def branches(ctx: RequestContext, params: ConversationParams) -> dict[str, Any]:
    """The leaves (one per branch) and which one is current."""
    async with _backend(ctx, "branches") as backend:
        conversation = await backend.get_conversation(params.conversation_id)
        leaves = await backend.branches(params.conversation_id)
    return {"current_leaf_id": conversation.current_leaf_id, "branches": leaves}


@rpc_method("conversations/switch", params=SwitchParams)
async def switch(ctx: RequestContext, params: SwitchParams) -> Conversation:
    """Make a message (usually a leaf) the current one; the next append goes under it."""
    async with _backend(ctx, "switch_branch") as backend:
        return await backend.switch_branch(params.conversation_id, params.leaf_id)


@rpc_method("conversations/edit", params=EditParams)
async def edit(ctx: RequestContext, params: EditParams) -> StoredMessage:
    """Add an edited copy of a message as its sibling (a new branch); nothing is overwritten."""
    async with _backend(ctx, "edit_message") as backend:
        return await backend.edit_message(params.message_id, params.content, params.metadata)


@rpc_method("conversations/append", params=AppendParams)
async def append(ctx: RequestContext, params: AppendParams) -> StoredMessage:
    """Add a message under ``parent_id`` (default: the current leaf); it becomes current."""
    async with _backend(ctx, "append_message") as backend:
        return await backend.append_message(
            params.conversation_id,
            params.message,
            parent_id=params.parent_id,
            model=params.model,
            usage=params.usage,
            timings=params.timings,
            cost=params.cost,
            metadata=params.metadata,
        )


async def _check_owner(ctx: RequestContext, params: ItemParams) -> None:
    """Refuse a ``message_id`` that belongs to another conversation."""
    assert params.message_id is not None
    async with _backend(ctx, "get_message") as backend:
        owner = (await backend.get_message(params.message_id)).conversation_id
    if owner != params.conversation_id:
        raise InvalidParams(
            "message_id",
            f"message {params.message_id!r} belongs to conversation {owner!r}, "
            f"not {params.conversation_id!r}",
            "send the conversation_id the message belongs to",
        )


@rpc_method("conversations/delete", params=ItemParams)
async def delete(ctx: RequestContext, params: ItemParams) -> None:
    """Move a conversation, or one message with the branch below it, to the trash."""
    if params.message_id is not None:
        await _check_owner(ctx, params)
    async with _backend(ctx, "delete") as backend:
        if params.message_id is None:
            await backend.delete("conversation", params.conversation_id)
        else:
            await backend.delete("message", params.message_id)


@rpc_method("conversations/restore", params=ItemParams)
async def restore(ctx: RequestContext, params: ItemParams) -> Conversation:
    """Bring a conversation, or a deleted branch, back from the trash."""
    async with _backend(ctx, "restore") as backend:
        if params.message_id is None:
            await backend.restore("conversation", params.conversation_id)
        else:
            await backend.restore("message", params.message_id)
        return await backend.get_conversation(params.conversation_id)


@rpc_method("conversations/search", params=ConversationSearchParams)
async def search_conversations(
    ctx: RequestContext, params: ConversationSearchParams
) -> dict[str, Any]:
    """Full-text search over messages, best first, with highlighted snippets."""
    _check_text(params.text)
    query = SearchQuery(scope="messages", **msgspec.structs.asdict(params))
    async with _backend(ctx, "search") as backend:
        hits = await backend.search(query)
    return {"hits": hits}


# -- memories ------------------------------------------------------------------------------
@rpc_method("memory/add", params=AddMemoryParams)
async def add_memory(ctx: RequestContext, params: AddMemoryParams) -> MemoryItem:
    """Store a fact for later (content, tags, source)."""
    if not params.content.strip():
        raise InvalidParams("content", "is empty", "send the fact to remember as text")
    async with _backend(ctx, "add_memory") as backend:
        return await backend.add_memory(
            params.content, tags=params.tags, source=params.source, metadata=params.metadata
        )


@rpc_method("memory/get", params=MemoryIdParams)
async def get_memory(ctx: RequestContext, params: MemoryIdParams) -> MemoryItem:
    """One stored fact."""
    async with _backend(ctx, "get_memory") as backend:
        return await backend.get_memory(params.memory_id)


@rpc_method("memory/list", params=ListMemoriesParams)
async def list_memories(ctx: RequestContext, params: ListMemoriesParams) -> dict[str, Any]:
    """Stored facts, newest first, optionally only those with all ``tags``."""
    async with _backend(ctx, "list_memories") as backend:
        found = await backend.list_memories(params.tags, params.limit, params.offset)
    return {"memories": found}


@rpc_method("memory/delete", params=MemoryIdParams)
async def delete_memory(ctx: RequestContext, params: MemoryIdParams) -> None:
    """Move a fact to the trash."""
    async with _backend(ctx, "delete") as backend:
        await backend.delete("memory", params.memory_id)


@rpc_method("memory/search", params=MemorySearchParams)
async def search_memories(ctx: RequestContext, params: MemorySearchParams) -> dict[str, Any]:
    """Full-text search over stored facts (content and tags)."""
    _check_text(params.text)
    query = SearchQuery(scope="memories", **msgspec.structs.asdict(params))
    async with _backend(ctx, "search") as backend:
        hits = await backend.search(query)
    return {"hits": hits}


# -- trash ---------------------------------------------------------------------------------
@rpc_method("trash/list", params=NoParams)
async def list_trash(ctx: RequestContext, params: NoParams) -> dict[str, Any]:
    """Everything in the trash, most recently deleted first, with the retention in days."""
    service = memory_service(ctx.host)
    async with _backend(ctx, "list_trash") as backend:
        items = await backend.list_trash()
    return {"items": items, "retention_days": service.settings.trash_retention_days}


@rpc_method("trash/restore", params=TrashRestoreParams)
async def restore_item(ctx: RequestContext, params: TrashRestoreParams) -> None:
    """Bring one trash item back (``kind`` and ``id`` as ``trash/list`` shows them)."""
    async with _backend(ctx, "restore") as backend:
        await backend.restore(params.kind, params.id)


@rpc_method("trash/empty", params=NoParams)
async def empty_trash(ctx: RequestContext, params: NoParams) -> dict[str, int]:
    """Delete everything in the trash for good."""
    purged = await memory_service(ctx.host).purge(None, reason="empty")
    return {"purged": purged}


@rpc_method("trash/purge", params=PurgeParams)
async def purge_trash(ctx: RequestContext, params: PurgeParams) -> dict[str, int]:
    """Delete trash items older than ``older_than_days`` (default: the retention) for good."""
    service = memory_service(ctx.host)
    days = (
        params.older_than_days
        if params.older_than_days is not None
        else service.settings.trash_retention_days
    )
    purged = await service.purge(time.time() - days * _DAY, reason="purge")
    return {"purged": purged}
