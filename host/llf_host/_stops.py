"""Stop sequences in a token stream (public helper for providers that generate in process).

Text arrives a token at a time; a stop sequence may span several tokens. A
:class:`StopMatcher` holds back just the text that could still be the start of a
stop sequence, so nothing after a stop is ever emitted and nothing before one is
delayed longer than necessary.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import final

__all__ = ["StopMatcher"]


@final
class StopMatcher:
    """Cuts a stream of text at the first occurrence of any stop sequence."""

    def __init__(self, stops: Iterable[str]) -> None:
        self._stops = sorted({s for s in stops if s}, key=len, reverse=True)
        self._pending = ""

    def feed(self, text: str) -> tuple[str, bool]:
        """Add ``text``; return what can be emitted now and whether a stop was hit."""
        if not self._stops:
            return text, False
        buf = self._pending + text
        first: int | None = None
        for stop in self._stops:
            index = buf.find(stop)
            if index != -1 and (first is None or index < first):
                first = index
        if first is not None:
            self._pending = ""
            return buf[:first], True
        hold = 0
        for stop in self._stops:
            for size in range(min(len(stop) - 1, len(buf)), hold, -1):
                if buf.endswith(stop[:size]):
                    hold = size
                    break
        self._pending = buf[len(buf) - hold :] if hold else ""
        return buf[: len(buf) - hold], False

    def flush(self) -> str:
        """The text held back at the end of a stream that hit no stop."""
        pending, self._pending = self._pending, ""
        return pending
