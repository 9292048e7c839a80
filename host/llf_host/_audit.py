"""The audit bus: fans audit events out to auditors, off the request path.

``emit`` never blocks and never raises: events go into a bounded queue that one
background task drains into every :class:`~llf_host.Auditor` and every
``llf_audit`` hook implementation. When the queue is full the event is dropped
and counted (``dropped``), so a slow or stuck auditor cannot slow the host. An
auditor that raises or takes longer than ``timeout`` is reported in the log and in
``failures``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from collections.abc import Callable
from typing import final

from ._guard import call_guarded
from ._types import AuditEvent

__all__ = ["AuditBus", "AuditSink"]

log = logging.getLogger("llf.audit")

#: One receiver: (plugin name, callable taking the event).
AuditSink = tuple[str, Callable[[AuditEvent], Awaitable[None] | None]]


@final
class AuditBus:
    """Bounded, non-blocking fan-out of audit events."""

    def __init__(self, *, maxsize: int = 10_000, timeout: float = 5.0) -> None:
        self._queue: asyncio.Queue[AuditEvent] | None = None
        self._task: asyncio.Task[None] | None = None
        self._maxsize = maxsize
        self._timeout = timeout
        self._sinks: Callable[[], list[AuditSink]] = list
        self._redact: Callable[[AuditEvent], AuditEvent] = lambda e: e
        #: Events dropped because the queue was full.
        self.dropped = 0
        #: Sink failures (plugin name -> count).
        self.failures: dict[str, int] = {}
        self.delivered = 0

    def configure(
        self,
        sinks: Callable[[], list[AuditSink]],
        redact: Callable[[AuditEvent], AuditEvent] | None = None,
    ) -> None:
        """Set where events go (read at delivery time, so reloads are picked up)."""
        self._sinks = sinks
        if redact is not None:
            self._redact = redact

    def start(self) -> None:
        """Start the delivery task on the running loop."""
        if self._task is None:
            self._queue = asyncio.Queue(self._maxsize)
            self._task = asyncio.get_running_loop().create_task(self._run(), name="llf-audit-bus")

    def emit(self, event: AuditEvent) -> None:
        """Queue ``event`` for every auditor. Never blocks, never raises."""
        if self._queue is None:
            return
        try:
            self._queue.put_nowait(self._redact(event))
        except asyncio.QueueFull:
            self.dropped += 1
            if self.dropped in (1, 100) or self.dropped % 10_000 == 0:
                log.warning("audit queue full: %d events dropped so far", self.dropped)
        except Exception:
            log.exception("audit event could not be queued")

    async def _deliver(self, event: AuditEvent) -> None:
        for plugin, sink in self._sinks():
            try:
                await asyncio.wait_for(
                    call_guarded(plugin, "audit", sink, event), timeout=self._timeout
                )
            except Exception as exc:  # noqa: BLE001 - an auditor must never break the bus
                self.failures[plugin] = self.failures.get(plugin, 0) + 1
                log.warning("auditor %s failed on %s: %s", plugin, event.kind, exc or "timed out")
        self.delivered += 1

    async def _run(self) -> None:
        assert self._queue is not None
        while True:
            event = await self._queue.get()
            try:
                await self._deliver(event)
            finally:
                self._queue.task_done()

    async def drain(self, timeout: float = 5.0) -> None:
        """Wait until every queued event has been delivered (or ``timeout``)."""
        if self._queue is None:
            return
        try:
            await asyncio.wait_for(self._queue.join(), timeout)
        except TimeoutError:
            log.warning("audit queue not drained within %.1f s", timeout)

    async def aclose(self) -> None:
        """Deliver what is queued, then stop."""
        await self.drain()
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        self._queue = None
