"""An incremental Server-Sent Events parser (the WHATWG event-stream format).

Feed it bytes as they arrive, in chunks of any size, and it returns the events
completed so far. It follows the spec where engines rely on it and is lenient
where they differ:

- lines end with ``\\n``, ``\\r\\n`` or ``\\r`` (a ``\\r`` at the end of a chunk is
  held back until the next byte shows whether a ``\\n`` follows);
- ``data:`` with or without the space; several ``data:`` lines join with ``\\n``;
- lines starting with ``:`` are comments (llama-server pings during prefill);
- ``event:`` and ``id:`` are kept; ``retry:`` and unknown fields are ignored;
- a blank line dispatches the event; an event without data is dropped;
- at end of stream, :meth:`SSEParser.close` flushes an event whose closing blank
  line never came, marked ``complete=False`` so the caller can tell.

The parser does no I/O and knows nothing about chat: :mod:`.streams` decides
what ``[DONE]`` or a missing finish means.
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["SSEEvent", "SSEParser"]


class SSEEvent(NamedTuple):
    """One dispatched event."""

    #: The ``event:`` field, ``"message"`` when absent.
    event: str
    #: The ``data:`` lines joined with ``\\n``.
    data: str
    #: The last ``id:`` seen, if any.
    id: str | None = None
    #: False for an event flushed at end of stream without its closing blank line.
    complete: bool = True


class SSEParser:
    """Turns a byte stream into :class:`SSEEvent` values."""

    __slots__ = ("_buffer", "_data", "_event", "_last_id", "comments")

    def __init__(self) -> None:
        self._buffer = b""
        self._data: list[str] = []
        self._event = ""
        self._last_id: str | None = None
        #: Comment lines seen (keep-alive pings), for diagnostics.
        self.comments = 0

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        """Parse ``chunk`` and return the events it completed (possibly none)."""
        buffer = self._buffer + chunk if self._buffer else chunk
        if not buffer:
            return []
        if b"\r" in buffer:
            held = b""
            if buffer.endswith(b"\r"):
                # Might be the first half of \r\n: decide when more bytes arrive.
                buffer, held = buffer[:-1], b"\r"
            buffer = buffer.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
            lines = buffer.split(b"\n")
            self._buffer = lines.pop() + held
        else:
            lines = buffer.split(b"\n")
            self._buffer = lines.pop()
        events: list[SSEEvent] = []
        for line in lines:
            event = self._line(line)
            if event is not None:
                events.append(event)
        return events

    def close(self) -> list[SSEEvent]:
        """End of stream: parse what is left and flush an unterminated event."""
        rest = self._buffer.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        self._buffer = b""
        events: list[SSEEvent] = []
        lines = rest.split(b"\n")
        last = lines.pop()  # after a final terminator this is b"", not a line
        if last:
            lines.append(last)
        for line in lines:
            event = self._line(line)
            if event is not None:
                events.append(event)
        if self._data:
            events.append(
                SSEEvent(
                    self._event or "message", "\n".join(self._data), self._last_id, complete=False
                )
            )
        self._data = []
        self._event = ""
        return events

    def _line(self, raw: bytes) -> SSEEvent | None:
        if not raw:
            return self._dispatch()
        if raw[0] == 0x3A:  # ":" comment
            self.comments += 1
            return None
        line = raw.decode("utf-8", errors="replace")
        field, sep, value = line.partition(":")
        if sep and value.startswith(" "):
            value = value[1:]
        if field == "data":
            self._data.append(value)
        elif field == "event":
            self._event = value
        elif field == "id" and "\x00" not in value:
            self._last_id = value
        return None

    def _dispatch(self) -> SSEEvent | None:
        if not self._data:
            self._event = ""
            return None
        event = SSEEvent(self._event or "message", "\n".join(self._data), self._last_id)
        self._data = []
        self._event = ""
        return event
