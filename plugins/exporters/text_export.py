"""Plain text: what a terminal or a mail body shows, with nothing to interpret."""

from __future__ import annotations

import textwrap

from llf_host import ConversationExport

from .base import BuiltinExporter
from .blocks import normalize_newlines
from .labels import conversation_facts
from .labels import conversation_title
from .labels import message_header
from .labels import metadata_json
from .labels import tool_arguments
from .labels import usage_line
from .options import ResolvedOptions
from .select import reading_order

INDENT = "    "


def _indented(text: str) -> str:
    return textwrap.indent(normalize_newlines(text), INDENT, lambda line: True)


def render_text(conversations: list[ConversationExport], opts: ResolvedOptions) -> str:
    """The plain-text form of a whole export."""
    out: list[str] = []
    for export in conversations:
        views = reading_order(export)
        title = conversation_title(export.conversation, opts)
        out.extend([title, "=" * min(len(title), 78)])
        for label, value in conversation_facts(export.conversation, len(views), opts):
            out.append(f"{label}: {value}")
        if opts.include_metadata and export.conversation.metadata:
            out.append("Metadata:")
            out.append(_indented(metadata_json(export.conversation.metadata)))
        for view in views:
            stored = view.stored
            out.append("")
            out.append(f"[{message_header(view, opts)}]")
            usage = usage_line(stored)
            if usage:
                out.append(f"({usage})")
            if stored.message.reasoning:
                out.append(INDENT + "reasoning:")
                out.append(_indented(_indented(stored.message.reasoning)))
            if stored.message.content:
                out.append(_indented(stored.message.content))
            for call in stored.message.tool_calls or []:
                out.append(f"{INDENT}tool call {call.function.name} ({call.id}):")
                out.append(_indented(_indented(tool_arguments(call))))
            if opts.include_metadata and stored.metadata:
                out.append(INDENT + "metadata:")
                out.append(_indented(_indented(metadata_json(stored.metadata))))
        out.append("")
        out.append("")
    return "\n".join(out).rstrip("\n") + "\n"


class TextExporter(BuiltinExporter):
    """Plain UTF-8 text; message bodies indented under their headers."""

    format = "txt"
    extension = "txt"
    media_type = "text/plain; charset=utf-8"
    description = "Plain text"

    def render(self, conversations: list[ConversationExport], opts: ResolvedOptions) -> bytes:
        return render_text(conversations, opts).encode("utf-8")
