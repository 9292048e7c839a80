"""Making arbitrary text safe to put into a Markdown document.

Message text must never change the document's structure: a ``# heading``, an
unclosed code fence, raw HTML, a table row or a list marker in a message would
otherwise become part of the export's own layout. Prose is escaped so that a
CommonMark (or GitHub) renderer shows exactly the characters that were written,
line breaks included; code blocks are re-fenced with a fence longer than any
backtick run inside them, so nothing in the code can close it.
"""

from __future__ import annotations

import re

from .blocks import Code
from .blocks import Prose
from .blocks import Segment
from .blocks import longest_run
from .blocks import normalize_newlines

NBSP = "\u00a0"

# Characters that carry inline meaning anywhere on a line.
_INLINE = re.compile(r"[\\`*\[\]<|~]|&(?=[#A-Za-z0-9])")
# Line starts that open a block: headings, quotes, lists, setext/thematic breaks.
_LINE_START = re.compile(r"^(?:[#>+=-]|\d{1,9}(?=[.)]))")
_UNDERSCORE = re.compile(r"_")


def _escape_underscore(line: str) -> str:
    # "snake_case" cannot open or close emphasis; only escape the others (readability).
    def replace(match: re.Match[str]) -> str:
        i = match.start()
        before = line[i - 1] if i > 0 else ""
        after = line[i + 1] if i + 1 < len(line) else ""
        if before.isalnum() and after.isalnum():
            return "_"
        return "\\_"

    return _UNDERSCORE.sub(replace, line)


def escape_inline(text: str) -> str:
    """Escape one line of text for use inside a paragraph or heading."""
    text = text.replace("\x00", "\ufffd")
    text = _INLINE.sub(lambda m: "\\" + m.group(0), text)
    return _escape_underscore(text)


def _escape_line(line: str) -> str:
    body = line.lstrip(" \t")
    indent = line[: len(line) - len(body)]
    # Leading spaces would make an indented code block; no-break spaces keep the look.
    indent = indent.replace("\t", NBSP * 4).replace(" ", NBSP)
    body = escape_inline(body.rstrip())
    if not indent:
        start = _LINE_START.match(body)
        if start is not None:
            if start.group(0).isdigit():
                end = start.end()
                body = body[:end] + "\\" + body[end:]
            else:
                body = "\\" + body
    return indent + body


def escape_prose(text: str) -> str:
    """Paragraphs of escaped text; single line breaks are kept as hard breaks."""
    paragraphs: list[list[str]] = [[]]
    for line in normalize_newlines(text).split("\n"):
        if not line.strip():  # whitespace only (form feeds too): a paragraph break
            if paragraphs[-1]:
                paragraphs.append([])
            continue
        paragraphs[-1].append(_escape_line(line))
    return "\n\n".join("\\\n".join(p) for p in paragraphs if p)


def fenced(code: str, language: str = "") -> str:
    """``code`` in a backtick fence that nothing inside it can close."""
    fence = "`" * max(3, longest_run(code, "`") + 1)
    info = language if "`" not in language else ""
    body = normalize_newlines(code)
    return f"{fence}{info}\n{body}\n{fence}" if body else f"{fence}{info}\n{fence}"


def render_segments(segments: list[Segment]) -> str:
    """Prose escaped, code re-fenced, blocks separated by blank lines."""
    parts: list[str] = []
    for segment in segments:
        if isinstance(segment, Code):
            parts.append(fenced(segment.text, segment.language))
        elif isinstance(segment, Prose):
            escaped = escape_prose(segment.text)
            if escaped:
                parts.append(escaped)
    return "\n\n".join(parts)
