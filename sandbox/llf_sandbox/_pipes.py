"""Reading a call's pipes on the event loop, each with a cap.

stdout and stderr are read concurrently with the result channel (a child that
fills one pipe must not block the others). A stream keeps only its last bytes
for error reports; crossing the cap calls ``on_overflow`` once (the host kills
the call). The result reader checks the length prefix before storing anything.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Callable

from ._outcome import FrameState
from ._wire import HEADER

__all__ = ["FrameReader", "StreamReader"]

_CHUNK = 1 << 16


class _PipeReader:
    def __init__(self, fd: int, loop: asyncio.AbstractEventLoop) -> None:
        self.fd = fd
        self.loop = loop
        self.eof = loop.create_future()
        os.set_blocking(fd, False)
        loop.add_reader(fd, self._readable)

    def _readable(self) -> None:
        while True:
            try:
                chunk = os.read(self.fd, _CHUNK)
            except BlockingIOError:
                return
            except OSError:
                chunk = b""
            if not chunk:
                self.close()
                return
            self.feed(chunk)

    def feed(self, chunk: bytes) -> None:
        raise NotImplementedError

    def drain_now(self) -> None:
        """Read whatever is buffered without waiting (for degraded teardown)."""
        if not self.eof.done():
            self._readable()

    def close(self) -> None:
        """Stop reading and close the fd."""
        if self.eof.done():
            return
        self.loop.remove_reader(self.fd)
        with contextlib.suppress(OSError):
            os.close(self.fd)
        self.eof.set_result(None)


class StreamReader(_PipeReader):
    """stdout or stderr: counts every byte, keeps the last ``keep`` bytes."""

    def __init__(
        self,
        fd: int,
        loop: asyncio.AbstractEventLoop,
        *,
        cap: int,
        keep: int,
        on_overflow: Callable[[], None],
    ) -> None:
        self.cap = cap
        self.keep = keep
        self.total = 0
        self.tail = bytearray()
        self.overflowed = False
        self._on_overflow = on_overflow
        super().__init__(fd, loop)

    def feed(self, chunk: bytes) -> None:
        self.total += len(chunk)
        self.tail += chunk[-self.keep :]
        if len(self.tail) > self.keep:
            del self.tail[: len(self.tail) - self.keep]
        if self.total > self.cap and not self.overflowed:
            self.overflowed = True
            self._on_overflow()

    def text(self) -> str:
        """The kept tail, decoded leniently."""
        return bytes(self.tail).decode("utf-8", "replace")


class FrameReader(_PipeReader):
    """The result channel: at most one frame of at most ``cap`` bytes."""

    def __init__(
        self, fd: int, loop: asyncio.AbstractEventLoop, *, cap: int, on_overflow: Callable[[], None]
    ) -> None:
        self.cap = cap
        self.state = FrameState()
        self._buffer = bytearray()
        self._on_overflow = on_overflow
        super().__init__(fd, loop)

    def feed(self, chunk: bytes) -> None:
        if self.state.oversized is not None:
            return
        self._buffer += chunk
        if len(self._buffer) >= HEADER.size:
            (length,) = HEADER.unpack_from(self._buffer)
            if length > self.cap:
                self.state.oversized = length
                self._buffer.clear()
                self._on_overflow()
                return
        # A frame plus a little: anything beyond is reported as garbage, not stored.
        if len(self._buffer) > self.cap + HEADER.size + 1:
            del self._buffer[self.cap + HEADER.size + 1 :]

    def frame(self) -> FrameState:
        """What arrived so far."""
        self.state.data = bytes(self._buffer)
        return self.state
