"""Rows to structs and back, and the ids the backend hands out.

Ids are a short kind prefix, 11 hex digits of milliseconds and 10 random hex
digits (``msg_18c4f2a9b3e5d1f07a2c9e``): unique across processes without
coordination, and nearly sorted by time, which keeps the UNIQUE index on
``id`` appending at its end instead of writing all over it.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from typing import Any

import msgspec

from llf_host import Conversation
from llf_host import MemoryItem
from llf_host import Message
from llf_host import StoredMessage
from llf_host import Timings
from llf_host import ToolCall
from llf_host import Usage

__all__ = [
    "CONVERSATION_COLUMNS",
    "MEMORY_COLUMNS",
    "MESSAGE_COLUMNS",
    "MESSAGE_INSERT",
    "conversation_from_row",
    "dumps",
    "memory_from_row",
    "message_from_row",
    "message_row",
    "new_id",
    "new_ids",
]

_encode = msgspec.json.Encoder().encode
_decode_dict = msgspec.json.Decoder(dict[str, Any]).decode
_decode_list = msgspec.json.Decoder(list[str]).decode
_decode_tool_calls = msgspec.json.Decoder(list[ToolCall]).decode
_decode_usage = msgspec.json.Decoder(Usage).decode
_decode_timings = msgspec.json.Decoder(Timings).decode


def new_ids(prefix: str, count: int) -> list[str]:
    """``count`` fresh ids with ``prefix`` (``conv``, ``msg``, ``mem``)."""
    stamp = f"{prefix}_{int(time.time() * 1000):011x}"
    noise = os.urandom(5 * count).hex()
    return [stamp + noise[i * 10 : i * 10 + 10] for i in range(count)]


def new_id(prefix: str) -> str:
    """One fresh id."""
    return new_ids(prefix, 1)[0]


def dumps(value: Any) -> str | None:
    """JSON text for a column; ``None`` stays NULL and an empty dict is ``{}``."""
    if value is None:
        return None
    if isinstance(value, dict) and not value:
        return "{}"
    return _encode(value).decode()


CONVERSATION_COLUMNS = (
    "c.id, c.title, c.current_leaf_id, c.created_at, c.updated_at, c.metadata, c.deleted_at, "
    "(SELECT COUNT(*) FROM messages m WHERE m.conversation_id = c.id AND m.deleted_at IS NULL)"
)


def conversation_from_row(row: Sequence[Any]) -> Conversation:
    """A :class:`Conversation` from a ``CONVERSATION_COLUMNS`` row."""
    return Conversation(
        id=row[0],
        title=row[1],
        current_leaf_id=row[2],
        created_at=row[3],
        updated_at=row[4],
        metadata=_decode_dict(row[5]),
        deleted_at=row[6],
        message_count=row[7],
    )


MESSAGE_COLUMNS = (
    "m.id, m.conversation_id, m.parent_id, m.role, m.content, m.name, m.tool_calls, "
    "m.tool_call_id, m.reasoning, m.model, m.usage, m.timings, m.cost, m.created_at, "
    "m.metadata, m.deleted_at"
)

MESSAGE_INSERT = (
    "INSERT INTO messages (id, conversation_id, parent_id, role, content, name, tool_calls, "
    "tool_call_id, reasoning, model, usage, timings, cost, created_at, metadata) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def message_row(
    message_id: str,
    conversation_id: str,
    parent_id: str | None,
    message: Message,
    *,
    model: str | None,
    usage: Usage | None,
    timings: Timings | None,
    cost: float | None,
    created_at: float,
    metadata: dict[str, Any] | None,
) -> tuple[Any, ...]:
    """The parameters of ``MESSAGE_INSERT`` for one message."""
    return (
        message_id,
        conversation_id,
        parent_id,
        message.role,
        message.content,
        message.name,
        dumps(message.tool_calls),
        message.tool_call_id,
        message.reasoning,
        model,
        dumps(usage),
        dumps(timings),
        cost,
        created_at,
        dumps(metadata or {}),
    )


def message_from_row(row: Sequence[Any]) -> StoredMessage:
    """A :class:`StoredMessage` from a ``MESSAGE_COLUMNS`` row."""
    return StoredMessage(
        id=row[0],
        conversation_id=row[1],
        parent_id=row[2],
        message=Message(
            role=row[3],
            content=row[4],
            name=row[5],
            tool_calls=_decode_tool_calls(row[6]) if row[6] is not None else None,
            tool_call_id=row[7],
            reasoning=row[8],
        ),
        model=row[9],
        usage=_decode_usage(row[10]) if row[10] is not None else None,
        timings=_decode_timings(row[11]) if row[11] is not None else None,
        cost=row[12],
        created_at=row[13],
        metadata=_decode_dict(row[14]),
        deleted_at=row[15],
    )


MEMORY_COLUMNS = (
    "k.id, k.content, k.tags, k.source, k.created_at, k.updated_at, k.metadata, k.deleted_at"
)


def memory_from_row(row: Sequence[Any]) -> MemoryItem:
    """A :class:`MemoryItem` from a ``MEMORY_COLUMNS`` row."""
    return MemoryItem(
        id=row[0],
        content=row[1],
        tags=_decode_list(row[2]),
        source=row[3],
        created_at=row[4],
        updated_at=row[5],
        metadata=_decode_dict(row[6]),
        deleted_at=row[7],
    )
