"""HTML: one self-contained file, readable offline, code blocks highlighted."""

from __future__ import annotations

import html

from llf_host import ConversationExport

from .base import BuiltinExporter
from .blocks import Code
from .blocks import split_blocks
from .highlight import highlight_code
from .html_page import page
from .labels import conversation_facts
from .labels import conversation_title
from .labels import message_header
from .labels import metadata_json
from .labels import tool_arguments
from .labels import usage_line
from .options import ResolvedOptions
from .select import MessageView
from .select import reading_order

_MAX_INDENT = 12


def esc(text: str) -> str:
    """Text escaped for HTML content and attributes (NUL made visible)."""
    return html.escape(text.replace("\x00", "\ufffd"), quote=True)


def _code(text: str, language: str, opts: ResolvedOptions) -> str:
    lang_attr = f' data-lang="{esc(language)}"' if language else ""
    inner = highlight_code(text.replace("\x00", "\ufffd"), language, opts.highlight)
    return f'<pre class="hl"{lang_attr}><code>{inner}</code></pre>'


def _segments(text: str | None, opts: ResolvedOptions) -> str:
    parts: list[str] = []
    for segment in split_blocks(text):
        if isinstance(segment, Code):
            parts.append(_code(segment.text, segment.language, opts))
        elif segment.text.strip():
            text = segment.text.strip("\n")
            parts.append(f'<div class="text">{esc(text)}</div>')
    return "\n".join(parts)


def _message(view: MessageView, opts: ResolvedOptions) -> str:
    stored = view.stored
    role = stored.message.role
    classes = f"message role-{role}" + ("" if view.follows_previous else " branch")
    indent = min(view.level, _MAX_INDENT) if opts.branch == "all" else 0
    style = f' style="margin-left: {indent * 1.25:.2f}rem"' if indent else ""
    header = esc(message_header(view, opts)).replace(
        esc(role), f'<span class="role">{esc(role)}</span>', 1
    )
    out = [
        f'<article class="{classes}" id="m{view.number}" data-id="{esc(stored.id)}" '
        f'data-role="{esc(role)}"{style}>',
        f"<header>{header}</header>",
    ]
    usage = usage_line(stored)
    if usage:
        out.append(f'<div class="usage">{esc(usage)}</div>')
    if stored.message.reasoning:
        out.append(
            f"<details><summary>reasoning</summary>{_segments(stored.message.reasoning, opts)}"
            "</details>"
        )
    out.append(f'<div class="content">{_segments(stored.message.content, opts)}</div>')
    for call in stored.message.tool_calls or []:
        out.append(
            f'<div class="tool-call">tool call <span class="name">{esc(call.function.name)}'
            f"</span> ({esc(call.id)}){_code(tool_arguments(call), 'json', opts)}</div>"
        )
    if opts.include_metadata and stored.metadata:
        out.append(
            "<details><summary>metadata</summary>"
            f"{_code(metadata_json(stored.metadata), 'json', opts)}</details>"
        )
    out.append("</article>")
    return "\n".join(out)


def render_html(conversations: list[ConversationExport], opts: ResolvedOptions) -> str:
    """The HTML page of a whole export."""
    sections: list[str] = []
    for export in conversations:
        views = reading_order(export)
        conversation = export.conversation
        facts = "".join(
            f"<dt>{esc(label)}</dt><dd>{esc(value)}</dd>"
            for label, value in conversation_facts(conversation, len(views), opts)
        )
        parts = [
            f'<section class="conversation" data-id="{esc(conversation.id)}">',
            f"<h1>{esc(conversation_title(conversation, opts))}</h1>",
            f'<dl class="facts">{facts}</dl>',
        ]
        if opts.include_metadata and conversation.metadata:
            parts.append(
                "<details><summary>metadata</summary>"
                f"{_code(metadata_json(conversation.metadata), 'json', opts)}</details>"
            )
        parts.extend(_message(view, opts) for view in views)
        parts.append("</section>")
        sections.append("\n".join(parts))
    if len(conversations) == 1:
        title = conversation_title(conversations[0].conversation, opts)
    else:
        title = opts.title or f"{len(conversations)} conversations"
    return page(title, "\n<hr>\n".join(sections))


class HtmlExporter(BuiltinExporter):
    """A single self-contained HTML page; no external requests."""

    format = "html"
    extension = "html"
    media_type = "text/html; charset=utf-8"
    description = "HTML: one self-contained page, readable offline, code highlighted"

    def render(self, conversations: list[ConversationExport], opts: ResolvedOptions) -> bytes:
        return render_html(conversations, opts).encode("utf-8")
