"""Choosing what to export: a branch or the whole tree, a date range, roles, fields.

Filtering never leaves a broken tree: a kept message whose parent was filtered
out is attached to its nearest kept ancestor, and the conversation's current
leaf moves the same way. The readable formats walk the result depth first, so a
branch follows the message it branches from.
"""

from __future__ import annotations

import msgspec
from msgspec import structs

from llf_host import ConversationExport
from llf_host import StoredMessage

from .options import ResolvedOptions

_SYSTEM_ROLES = frozenset({"system", "developer"})

# msgspec leaves a field out of the JSON only when it holds the default object
# itself (floats compare by identity), so "no time" must reuse that object.
_NO_TIME: float = next(
    f.default for f in msgspec.structs.fields(StoredMessage) if f.name == "created_at"
)


class MessageView(msgspec.Struct, frozen=True):
    """One message in reading order."""

    #: 1-based position in the export of its conversation.
    number: int
    stored: StoredMessage
    #: Distance from the root of the tree (0 for a root).
    depth: int
    #: How many branches deep: the first reply continues its parent's level, later
    #: replies (alternative branches) go one level deeper.
    level: int
    #: Number of the parent message, if it is exported.
    parent_number: int | None
    #: False when the message starts a branch (its parent is not the message before).
    follows_previous: bool


def _ancestors(message_id: str | None, by_id: dict[str, StoredMessage]) -> list[str]:
    """``message_id`` and its ancestors, leaf first (stops at cycles and gaps)."""
    path: list[str] = []
    seen: set[str] = set()
    while message_id is not None and message_id in by_id and message_id not in seen:
        seen.add(message_id)
        path.append(message_id)
        message_id = by_id[message_id].parent_id
    return path


def current_branch(export: ConversationExport) -> list[StoredMessage]:
    """Root-to-leaf path ending at the current leaf (or the newest leaf if unset)."""
    by_id = {m.id: m for m in export.messages}
    leaf = export.conversation.current_leaf_id
    if leaf not in by_id:
        parents = {m.parent_id for m in export.messages}
        leaves = [m for m in export.messages if m.id not in parents]
        leaf = max(leaves, key=lambda m: m.created_at).id if leaves else None
    ids = set(_ancestors(leaf, by_id))
    return [m for m in export.messages if m.id in ids]


def _keep(message: StoredMessage, opts: ResolvedOptions) -> StoredMessage | None:
    role = message.message.role
    if role in _SYSTEM_ROLES and not opts.include_system:
        return None
    if role == "tool" and not opts.include_tool_calls:
        return None
    if opts.since is not None and message.created_at < opts.since:
        return None
    if opts.until is not None and message.created_at > opts.until:
        return None
    if not opts.include_tool_calls and message.message.tool_calls:
        if not message.message.content and not message.message.reasoning:
            return None
        message = structs.replace(
            message, message=structs.replace(message.message, tool_calls=None)
        )
    if not opts.include_metadata and message.metadata:
        message = structs.replace(message, metadata={})
    if not opts.include_timestamps and message.created_at:
        message = structs.replace(message, created_at=_NO_TIME)
    return message


def _nearest_kept(
    message_id: str | None, by_id: dict[str, StoredMessage], kept: set[str]
) -> str | None:
    for candidate in _ancestors(message_id, by_id):
        if candidate in kept:
            return candidate
    return None


def select(export: ConversationExport, opts: ResolvedOptions) -> ConversationExport | None:
    """The part of ``export`` the options ask for; None when a date range leaves nothing."""
    source = current_branch(export) if opts.branch == "current" else list(export.messages)
    by_id = {m.id: m for m in export.messages}
    chosen: list[StoredMessage] = []
    for message in source:
        kept = _keep(message, opts)
        if kept is not None:
            chosen.append(kept)
    if opts.has_date_range and not chosen:
        return None
    kept_ids = {m.id for m in chosen}
    messages = [
        m
        if m.parent_id is None or m.parent_id in kept_ids
        else structs.replace(m, parent_id=_nearest_kept(m.parent_id, by_id, kept_ids))
        for m in chosen
    ]
    conversation = export.conversation
    leaf = conversation.current_leaf_id
    if leaf is not None and leaf not in kept_ids:
        conversation = structs.replace(
            conversation, current_leaf_id=_nearest_kept(leaf, by_id, kept_ids)
        )
    if not opts.include_metadata and conversation.metadata:
        conversation = structs.replace(conversation, metadata={})
    if not opts.include_timestamps:
        conversation = structs.replace(conversation, created_at=_NO_TIME, updated_at=_NO_TIME)
    return ConversationExport(conversation=conversation, messages=messages)


def reading_order(export: ConversationExport) -> list[MessageView]:
    """Messages depth first (children oldest first), numbered, with their depth."""
    ids = {m.id for m in export.messages}
    children: dict[str | None, list[tuple[int, StoredMessage]]] = {}
    for index, message in enumerate(export.messages):
        parent = message.parent_id if message.parent_id in ids else None
        children.setdefault(parent, []).append((index, message))
    for siblings in children.values():
        siblings.sort(key=lambda item: (item[1].created_at, item[0]))
    views: list[MessageView] = []
    numbers: dict[str, int] = {}
    # Iterative walk: conversation trees can be deeper than Python's recursion limit.
    stack: list[tuple[StoredMessage, int, int]] = [
        (m, 0, 0) for _i, m in reversed(children.get(None, []))
    ]
    visited: set[str] = set()
    while True:
        if not stack:
            # Malformed trees (parent cycles) still export every message.
            stack.extend((m, 0, 0) for m in reversed(export.messages) if m.id not in visited)
            if not stack:
                break
        message, depth, level = stack.pop()
        if message.id in visited:
            continue
        visited.add(message.id)
        parent_number = numbers.get(message.parent_id) if message.parent_id else None
        previous = views[-1].stored.id if views else None
        number = len(views) + 1
        numbers[message.id] = number
        views.append(
            MessageView(
                number=number,
                stored=message,
                depth=depth,
                level=level,
                parent_number=parent_number,
                follows_previous=message.parent_id is None or message.parent_id == previous,
            )
        )
        replies = children.get(message.id, [])
        for position in range(len(replies) - 1, -1, -1):
            stack.append((replies[position][1], depth + 1, level + (1 if position else 0)))
    return views
