"""The byte pipe under the protocol: thread-free asyncio over two file descriptors.

Reading uses ``loop.connect_read_pipe`` with a plain :class:`asyncio.Protocol`:
the loop hands over whole buffers (up to 256 KiB) as they arrive, with no thread
hop and no line reads, and the reader never waits for handlers. Writing uses
``loop.connect_write_pipe``: a write goes to the pipe at once when it can, is
buffered otherwise, and :meth:`PipeTransport.drain` waits while the buffer is
above the high-water mark (back-pressure). The loop runs on one thread, so one
``write`` of a whole frame can never interleave with another.

:func:`protect_stdio` keeps the wire clean at the file-descriptor level: the
protocol moves to private duplicates of fd 0 and 1, fd 1 then points at stderr
and fd 0 at ``/dev/null``. ``print()``, a C extension writing to fd 1, or a child
process inheriting stdio can no longer corrupt the stream or steal input.
"""

from __future__ import annotations

import asyncio
import logging
import os
import stat
import sys
from collections.abc import Callable
from typing import Final
from typing import final

__all__ = ["PipeTransport", "protect_stdio"]

log = logging.getLogger("llf.rpc")

#: Pause handlers (``drain``) above this many buffered output bytes.
WRITE_HIGH_WATER: Final = 1 << 20
_READ_CHUNK: Final = 1 << 18


def protect_stdio() -> tuple[int, int]:
    """Move the protocol onto private fds; return ``(read_fd, write_fd)``.

    Call it before importing any plugin. Output already buffered in
    ``sys.stdout`` is flushed to the real stdout first.
    """
    try:
        sys.stdout.flush()
    except (OSError, ValueError):
        pass
    read_fd = os.dup(0)  # os.dup makes non-inheritable fds: children never get them
    write_fd = os.dup(1)
    try:
        os.dup2(2, 1)
    except OSError:
        _point_at_devnull(1, os.O_WRONLY)
    _point_at_devnull(0, os.O_RDONLY)
    return read_fd, write_fd


def _point_at_devnull(fd: int, flags: int) -> None:
    devnull = os.open(os.devnull, flags)
    try:
        os.dup2(devnull, fd)
    finally:
        os.close(devnull)


class _ReadProtocol(asyncio.Protocol):
    def __init__(self, on_data: Callable[[bytes], None], on_eof: Callable[[], None]) -> None:
        self._on_data = on_data
        self._on_eof = on_eof
        self._ended = False

    def data_received(self, data: bytes) -> None:
        self._on_data(data)

    def eof_received(self) -> bool:
        self._end()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self._end()

    def _end(self) -> None:
        if not self._ended:
            self._ended = True
            self._on_eof()


class _WriteProtocol(asyncio.BaseProtocol):
    def __init__(self) -> None:
        self.paused = False
        self.closed = False
        self._waiters: list[asyncio.Future[None]] = []

    def pause_writing(self) -> None:
        self.paused = True

    def resume_writing(self) -> None:
        self.paused = False
        self._wake()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.paused = False
        self._wake()

    def _wake(self) -> None:
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    async def wait_resumed(self) -> None:
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        await waiter


@final
class PipeTransport:
    """Reads and writes protocol bytes on two fds (pipes, sockets or ttys).

    Regular files and devices such as ``/dev/null`` (``serve < requests.txt``)
    cannot be watched by the loop; they are read in chunks on the default
    executor and written synchronously.
    """

    def __init__(self, read_fd: int, write_fd: int) -> None:
        self.read_fd = read_fd
        self.write_fd = write_fd
        self._reader: asyncio.ReadTransport | None = None
        self._writer: asyncio.WriteTransport | None = None
        self._write_protocol = _WriteProtocol()
        self._file_reader: asyncio.Task[None] | None = None
        self._sync_write = False
        self._corked: list[bytes] | None = None

    async def start(self, on_data: Callable[[bytes], None], on_eof: Callable[[], None]) -> None:
        """Start delivering input to ``on_data``; ``on_eof`` runs once when input ends."""
        loop = asyncio.get_running_loop()
        if _is_regular_file(self.write_fd):
            self._sync_write = True
        else:
            self._writer, _ = await loop.connect_write_pipe(
                lambda: self._write_protocol, os.fdopen(self.write_fd, "wb", buffering=0)
            )
            self._writer.set_write_buffer_limits(high=WRITE_HIGH_WATER)
        if _is_regular_file(self.read_fd):
            self._file_reader = loop.create_task(self._read_file(on_data, on_eof))
        else:
            self._reader, _ = await loop.connect_read_pipe(
                lambda: _ReadProtocol(on_data, on_eof),
                os.fdopen(self.read_fd, "rb", buffering=0),
            )

    async def _read_file(
        self, on_data: Callable[[bytes], None], on_eof: Callable[[], None]
    ) -> None:
        loop = asyncio.get_running_loop()
        try:
            while chunk := await loop.run_in_executor(None, os.read, self.read_fd, _READ_CHUNK):
                on_data(chunk)
        except OSError as exc:
            log.warning("reading the protocol input failed: %s", exc)
        finally:
            on_eof()

    @property
    def closed(self) -> bool:
        """True once the output side is gone (the client closed its end)."""
        return self._write_protocol.closed

    def cork(self) -> None:
        """Collect writes until :meth:`uncork` (one system call for a burst of replies)."""
        if self._corked is None:
            self._corked = []

    def uncork(self) -> None:
        """Write everything collected since :meth:`cork` at once."""
        corked, self._corked = self._corked, None
        if corked:
            self.write(corked[0] if len(corked) == 1 else b"".join(corked))

    def write(self, data: bytes) -> None:
        """Queue ``data`` for the client; never blocks, never interleaves."""
        if self._corked is not None:
            self._corked.append(data)
            return
        if self._writer is not None:
            if not self._write_protocol.closed:
                self._writer.write(data)
        elif self._sync_write:
            _write_all(self.write_fd, data)

    def write_frame(self, header: bytes, body: bytes) -> None:
        """Queue a frame; large bodies are not copied into one buffer with the header."""
        if len(body) < 65536:
            self.write(header + body)
        else:
            self.write(header)
            self.write(body)

    @property
    def paused(self) -> bool:
        """True while the output buffer is above the high-water mark."""
        return self._write_protocol.paused

    async def drain(self) -> None:
        """Wait until the output buffer is below the high-water mark."""
        while self._write_protocol.paused:
            await self._write_protocol.wait_resumed()

    async def aclose(self, timeout: float = 5.0) -> None:
        """Flush what is buffered (bounded by ``timeout``), then close both sides."""
        if self._reader is not None:
            self._reader.close()
        if self._file_reader is not None:
            self._file_reader.cancel()
        writer = self._writer
        if writer is not None and not writer.is_closing():
            loop = asyncio.get_running_loop()
            deadline = loop.time() + timeout
            while writer.get_write_buffer_size() and not self._write_protocol.closed:
                if loop.time() > deadline:
                    writer.abort()
                    return
                await asyncio.sleep(0.005)
            writer.close()
        elif self._sync_write:
            try:
                os.close(self.write_fd)
            except OSError:
                pass


def _is_regular_file(fd: int) -> bool:
    """True for fds the event loop cannot poll: files, and devices such as /dev/null."""
    try:
        mode = os.fstat(fd).st_mode
    except OSError:
        return False
    return stat.S_ISREG(mode) or (stat.S_ISCHR(mode) and not os.isatty(fd))


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        try:
            written = os.write(fd, view)
        except OSError as exc:
            log.warning("writing protocol output failed: %s", exc)
            return
        view = view[written:]
