"""An incremental newline-delimited JSON splitter (Ollama's native streams).

Feed bytes in chunks of any size; get back each complete line, decoded. Blank
lines are skipped. :meth:`NDJSONParser.close` returns a final line that had no
newline (Ollama ends its stream with one, so a missing one is not an error by
itself); a line that is not JSON raises :class:`ValueError` with the text, and
the caller turns it into a typed error.
"""

from __future__ import annotations

from typing import Any

import msgspec

__all__ = ["NDJSONParser"]

_decode = msgspec.json.decode


class NDJSONParser:
    """Turns a byte stream into decoded JSON values, one per line."""

    __slots__ = ("_buffer",)

    def __init__(self) -> None:
        self._buffer = b""

    def feed(self, chunk: bytes) -> list[Any]:
        """Parse ``chunk``; return the values of the lines it completed."""
        buffer = self._buffer + chunk if self._buffer else chunk
        lines = buffer.split(b"\n")
        self._buffer = lines.pop()
        return [_parse(line) for line in lines if line.strip()]

    def close(self) -> list[Any]:
        """End of stream: the value of a last line without a newline, if any."""
        rest, self._buffer = self._buffer, b""
        return [_parse(rest)] if rest.strip() else []


def _parse(line: bytes) -> Any:
    try:
        return _decode(line)
    except msgspec.DecodeError as exc:
        text = line[:200].decode("utf-8", errors="replace")
        raise ValueError(f"not a JSON line: {text!r} ({exc})") from None
