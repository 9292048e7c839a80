"""Markdown: readable as plain text and in any CommonMark/GitHub renderer."""

from __future__ import annotations

from llf_host import ConversationExport

from .base import BuiltinExporter
from .blocks import split_blocks
from .labels import conversation_facts
from .labels import conversation_title
from .labels import message_header
from .labels import metadata_json
from .labels import tool_arguments
from .labels import usage_line
from .markdown_escape import escape_inline
from .markdown_escape import fenced
from .markdown_escape import render_segments
from .options import ResolvedOptions
from .select import MessageView
from .select import reading_order


def heading(level: int, text: str) -> str:
    """An ATX heading whose text cannot end it early or add a closing sequence."""
    return "#" * level + " " + escape_inline(text).replace("#", "\\#")


def _message(view: MessageView, opts: ResolvedOptions) -> str:
    stored = view.stored
    parts = [heading(2, message_header(view, opts))]
    usage = usage_line(stored)
    if usage:
        parts.append(f"*{escape_inline(usage)}*")
    if stored.message.reasoning:
        parts.append("**Reasoning**")
        parts.append(render_segments(split_blocks(stored.message.reasoning)))
    body = render_segments(split_blocks(stored.message.content))
    if body:
        parts.append(body)
    for call in stored.message.tool_calls or []:
        parts.append(
            f"**Tool call** {escape_inline(call.function.name)} ({escape_inline(call.id)})"
        )
        parts.append(fenced(tool_arguments(call), "json"))
    if opts.include_metadata and stored.metadata:
        parts.append("**Metadata**")
        parts.append(fenced(metadata_json(stored.metadata), "json"))
    return "\n\n".join(parts)


def render_markdown(conversations: list[ConversationExport], opts: ResolvedOptions) -> str:
    """The Markdown text of a whole export."""
    sections: list[str] = []
    for export in conversations:
        views = reading_order(export)
        conversation = export.conversation
        lines = [heading(1, conversation_title(conversation, opts))]
        facts = conversation_facts(conversation, len(views), opts)
        lines.append("\\\n".join(f"**{label}:** {escape_inline(value)}" for label, value in facts))
        if opts.include_metadata and conversation.metadata:
            lines.append(fenced(metadata_json(conversation.metadata), "json"))
        lines.extend(_message(view, opts) for view in views)
        sections.append("\n\n".join(lines))
    return "\n\n---\n\n".join(sections) + "\n"


class MarkdownExporter(BuiltinExporter):
    """Markdown, with message text escaped so it can never break the document."""

    format = "md"
    extension = "md"
    media_type = "text/markdown; charset=utf-8"
    description = "Markdown: readable as text and in any CommonMark renderer"

    def render(self, conversations: list[ConversationExport], opts: ResolvedOptions) -> bytes:
        return render_markdown(conversations, opts).encode("utf-8")
