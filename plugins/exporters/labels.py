"""Small pieces every readable format shows the same way: times, headers, tool calls."""

from __future__ import annotations

import datetime as dt
import json

from llf_host import Conversation
from llf_host import StoredMessage
from llf_host import ToolCall

from .options import ResolvedOptions
from .select import MessageView


def format_time(epoch: float) -> str:
    """``2024-05-01 12:00:00 UTC`` (empty for an unknown time)."""
    if not epoch:
        return ""
    try:
        stamp = dt.datetime.fromtimestamp(epoch, tz=dt.UTC)
    except (OverflowError, OSError, ValueError):
        return ""
    return stamp.strftime("%Y-%m-%d %H:%M:%S UTC")


def one_line(text: str) -> str:
    """``text`` with every run of whitespace (newlines included) turned into one space."""
    return " ".join(text.split())


def conversation_title(conversation: Conversation, opts: ResolvedOptions) -> str:
    """The heading of a conversation: the ``title`` option, its title, or its id."""
    for candidate in (opts.title, conversation.title):
        if candidate and one_line(candidate):
            return one_line(candidate)
    return one_line(f"Conversation {conversation.id}")


def conversation_facts(
    conversation: Conversation, count: int, opts: ResolvedOptions
) -> list[tuple[str, str]]:
    """Label/value pairs shown under a conversation's title."""
    facts = [("Conversation", conversation.id), ("Messages", str(count))]
    if opts.include_timestamps:
        created = format_time(conversation.created_at)
        updated = format_time(conversation.updated_at)
        if created:
            facts.append(("Created", created))
        if updated:
            facts.append(("Updated", updated))
    if opts.branch == "all":
        facts.append(
            ("Branches", "all (a reply that starts a branch names the message it answers)")
        )
    return facts


def message_header(view: MessageView, opts: ResolvedOptions) -> str:
    """``3 · assistant · model · 2024-05-01 12:00:00 UTC · reply to 1`` (fields as present)."""
    stored = view.stored
    parts = [str(view.number), stored.message.role]
    if stored.message.name:
        parts.append(one_line(stored.message.name))
    if stored.model:
        parts.append(one_line(stored.model))
    if opts.include_timestamps:
        when = format_time(stored.created_at)
        if when:
            parts.append(when)
    if stored.message.role == "tool" and stored.message.tool_call_id:
        parts.append(f"result of {one_line(stored.message.tool_call_id)}")
    if not view.follows_previous and view.parent_number is not None:
        parts.append(f"reply to {view.parent_number}")
    return " · ".join(parts)


def usage_line(stored: StoredMessage) -> str:
    """``12 prompt + 30 completion tokens, 1.2 s, $0.0004`` when known."""
    parts: list[str] = []
    usage = stored.usage
    if usage is not None:
        if usage.prompt_tokens is not None:
            parts.append(f"{usage.prompt_tokens} prompt")
        if usage.completion_tokens is not None:
            parts.append(f"{usage.completion_tokens} completion")
    text = " + ".join(parts) + " tokens" if parts else ""
    extras: list[str] = []
    if stored.timings is not None and stored.timings.total_ms is not None:
        extras.append(f"{stored.timings.total_ms / 1000:.1f} s")
    if stored.cost is not None:
        extras.append(f"${stored.cost:.4f}")
    return ", ".join(p for p in [text, *extras] if p)


def tool_arguments(call: ToolCall) -> str:
    """The call's arguments, pretty-printed when they are JSON."""
    try:
        parsed = json.loads(call.function.arguments)
    except ValueError:
        return call.function.arguments
    return json.dumps(parsed, indent=2, ensure_ascii=False)


def metadata_json(metadata: dict[str, object]) -> str:
    """Metadata as pretty JSON."""
    return json.dumps(metadata, indent=2, ensure_ascii=False, sort_keys=True, default=str)
