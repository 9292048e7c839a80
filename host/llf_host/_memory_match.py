"""Matching the shared search syntax in plain Python: scores and highlighted snippets.

What a backend without a full-text engine (the in-memory test backend) uses to
answer :class:`~llf_host.SearchQuery` the way FTS5 does: words compared after
:func:`~llf_host._memory_contract.search_words` normalisation, phrases as
consecutive words, a prefix on the last word of a term, and snippets that wrap
each phrase match as one span.
"""

from __future__ import annotations

import re

from ._memory_contract import ParsedQuery
from ._memory_contract import QueryTerm
from ._memory_contract import search_words

__all__ = ["score", "snippet"]

_SPAN_RE = re.compile(r"[^\W_]+")
_SNIPPET_WORDS = 16


def _term_at(words: list[str], index: int, term: QueryTerm) -> bool:
    size = len(term.words)
    if index + size > len(words):
        return False
    for offset, wanted in enumerate(term.words):
        word = words[index + offset]
        last = offset == size - 1
        if not (word.startswith(wanted) if last and term.prefix else word == wanted):
            return False
    return True


def _matches(words: list[str], term: QueryTerm) -> list[int]:
    return [i for i in range(len(words)) if _term_at(words, i, term)]


def score(words: list[str], parsed: ParsedQuery) -> float | None:
    """Matches per word of text, or None when the query does not match."""
    if any(_matches(words, t) for t in parsed.excluded):
        return None
    hits = 0
    for group in parsed.groups:
        found = sum(len(_matches(words, term)) for term in group)
        if not found:
            return None
        hits += found
    return hits / (len(words) + 1)


def _marked_spans(words: list[str], parsed: ParsedQuery) -> list[tuple[int, int]]:
    """Word ranges ``[a, b)`` to highlight: one per phrase match, overlaps merged."""
    ranges = sorted(
        (index, index + len(term.words))
        for group in parsed.groups
        for term in group
        for index in _matches(words, term)
    )
    merged: list[tuple[int, int]] = []
    for lo, hi in ranges:
        if merged and lo < merged[-1][1]:
            merged[-1] = (merged[-1][0], max(hi, merged[-1][1]))
        else:
            merged.append((lo, hi))
    return merged


def snippet(text: str, parsed: ParsedQuery, start: str, end: str) -> str:
    """``text`` with matches wrapped (a phrase as one), cut to a window around the first."""
    spans = [(m.start(), m.end()) for m in _SPAN_RE.finditer(text)]
    if not spans:
        return text
    normalised = [" ".join(search_words(text[a:b])) for a, b in spans]
    marked = _marked_spans(normalised, parsed)
    first = marked[0][0] if marked else 0
    lo = max(0, first - _SNIPPET_WORDS // 4)
    hi = min(len(spans), lo + _SNIPPET_WORDS)
    opening = {a: b for a, b in marked}
    out: list[str] = ["…" if lo > 0 else ""]
    cursor = spans[lo][0] if lo > 0 else 0
    index = lo
    while index < hi:
        stop = min(opening.get(index, index + 1), hi)
        a, b = spans[index][0], spans[stop - 1][1]
        out.append(text[cursor:a])
        out.append(f"{start}{text[a:b]}{end}" if index in opening else text[a:b])
        cursor = b
        index = stop
    out.append("…" if hi < len(spans) else text[cursor:])
    return "".join(out)
