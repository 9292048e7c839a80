"""The auditor: buffers events and writes them to the log in fsync'd batches.

``record`` only appends to a list unless a batch is full; a timer writes a
partial batch after ``flush_interval_s``. The file work runs in a thread, so the
host's event loop never waits on the disk; the host's audit bus in front of
this auditor is bounded, so a slow disk costs dropped events (counted by the
bus), never a slower host.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from llf_host import AuditEvent
from llf_host import Auditor

from .logfile import LogFile

log = logging.getLogger("llf.plugin.audit_log")

#: Events kept for a retry after a failed write, at most this many batches' worth.
_RETRY_BATCHES = 16


class JsonlAuditor(Auditor):
    """Writes every audit event to a hash-chained JSON Lines file."""

    name = "audit_log"

    def __init__(
        self,
        path: Path,
        *,
        batch_size: int = 64,
        flush_interval_s: float = 1.0,
        redact: Callable[[AuditEvent], AuditEvent] | None = None,
    ) -> None:
        self.path = path
        self.batch_size = batch_size
        self.flush_interval_s = flush_interval_s
        self._file = LogFile(path)
        self._redact = redact
        self._pending: list[dict[str, Any]] = []
        self._lock = asyncio.Lock()
        self._timer: asyncio.TimerHandle | None = None
        self._background: set[asyncio.Task[None]] = set()
        #: Records written by this auditor.
        self.written = 0
        # After aclose (the host still delivers its last events, e.g. host.stop),
        # every event is written at once: no timer may outlive the event loop.
        self._closed = False

    async def record(self, event: AuditEvent) -> None:
        """Queue ``event``; write the batch when it is full."""
        if self._redact is not None:
            event = self._redact(event)
        self._pending.append(
            {
                "time": event.time,
                "kind": event.kind,
                "plugin": event.plugin,
                "session": event.session,
                "data": dict(event.data),
            }
        )
        if self._closed or len(self._pending) >= self.batch_size:
            await self.flush()
        elif self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(
                self.flush_interval_s, self._flush_later
            )

    def _flush_later(self) -> None:
        self._timer = None
        task = asyncio.get_running_loop().create_task(self._flush_logged())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _flush_logged(self) -> None:
        try:
            await self.flush()
        except Exception as exc:  # noqa: BLE001 - a timer flush has nobody to raise to
            log.error("writing the audit log %s failed: %s", self.path, exc)

    async def flush(self) -> None:
        """Write every queued event now (fsync'd)."""
        async with self._lock:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            batch, self._pending = self._pending, []
            if not batch:
                return
            try:
                await asyncio.to_thread(self._file.append, batch)
            except BaseException:
                # Keep the events for the next attempt, within a bound.
                keep = self.batch_size * _RETRY_BATCHES
                self._pending = (batch + self._pending)[-keep:]
                raise
            self.written += len(batch)

    async def aclose(self) -> None:
        """Write what is queued and stop the timer; later events are written one by one."""
        self._closed = True
        if self._background:
            await asyncio.gather(*list(self._background), return_exceptions=True)
        await self.flush()
