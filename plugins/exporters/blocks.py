"""Splitting message text into prose and fenced code blocks.

Model output is mostly Markdown: prose with fenced code blocks. Every format
keeps the code blocks apart (verbatim, highlighted in HTML, monospaced in PDF)
and treats the rest as text. An unclosed fence runs to the end of the message,
as in CommonMark.
"""

from __future__ import annotations

import re

import msgspec

_OPEN = re.compile(r"^ {0,3}(?P<fence>`{3,}|~{3,})(?P<info>.*)$")
_CLOSE = re.compile(r"^ {0,3}(?P<fence>`{3,}|~{3,})[ \t]*$")
_LANG = re.compile(r"[^A-Za-z0-9_+#.-]")


class Prose(msgspec.Struct, frozen=True):
    """Ordinary text (may span several lines and paragraphs)."""

    text: str


class Code(msgspec.Struct, frozen=True):
    """A fenced code block: its language (may be empty) and its text."""

    language: str
    text: str


Segment = Prose | Code


def normalize_newlines(text: str) -> str:
    """``\\r\\n`` and lone ``\\r`` become ``\\n`` (CommonMark treats all three as line ends)."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _language(info: str) -> str:
    words = info.strip().split()
    return _LANG.sub("", words[0])[:40] if words else ""


def split_blocks(text: str | None) -> list[Segment]:
    """``text`` as a list of prose and code segments, in order (empty text: none)."""
    if not text:
        return []
    lines = normalize_newlines(text).split("\n")
    segments: list[Segment] = []
    prose: list[str] = []
    i = 0
    while i < len(lines):
        opened = _OPEN.match(lines[i])
        if opened is None or (opened["fence"].startswith("`") and "`" in opened["info"]):
            prose.append(lines[i])
            i += 1
            continue
        fence = opened["fence"]
        body: list[str] = []
        j = i + 1
        while j < len(lines):
            closing = _CLOSE.match(lines[j])
            if closing and closing["fence"][0] == fence[0] and len(closing["fence"]) >= len(fence):
                break
            body.append(lines[j])
            j += 1
        if prose:
            segments.append(Prose("\n".join(prose)))
            prose = []
        segments.append(Code(_language(opened["info"]), "\n".join(body)))
        i = j + 1
    if prose:
        segments.append(Prose("\n".join(prose)))
    return segments


def longest_run(text: str, char: str) -> int:
    """Length of the longest run of ``char`` in ``text``."""
    return max((len(run) for run in re.findall(re.escape(char) + "+", text)), default=0)
