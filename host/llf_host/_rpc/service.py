"""What features see of a running protocol session: ``host.services["protocol"]``.

Hot reload broadcasts ``plugins/didChange`` through :meth:`ProtocolService.plugins_did_change`;
``host/health`` and ``host/metrics`` read the session's figures; host log records
reach the client as ``window/logMessage`` through :class:`ClientLogHandler`.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING
from typing import Any
from typing import Final
from typing import final

from .dispatcher import Lifecycle

if TYPE_CHECKING:
    from .handling import PluginLimiter
    from .metrics import Metrics
    from .server import ProtocolSettings
    from .server import Server

__all__ = ["LSP_LOG_TYPES", "ClientLogHandler", "ProtocolService"]

#: LSP ``MessageType`` numbers by level name.
LSP_LOG_TYPES: Final = {"error": 1, "warning": 2, "info": 3, "debug": 4}


@final
class ProtocolService:
    """What features see of the running session (``host.services["protocol"]``)."""

    def __init__(self, server: Server) -> None:
        self._server = server

    @property
    def watch(self) -> bool:
        """False when serve was started with ``--no-watch`` (no hot reload)."""
        return self._server.watch

    @property
    def in_flight(self) -> int:
        """Requests being handled now."""
        return self._server.dispatcher.in_flight

    @property
    def metrics(self) -> Metrics:
        """Request metrics of this session."""
        return self._server.dispatcher.metrics

    @property
    def limiter(self) -> PluginLimiter:
        """Per-plugin concurrency limits."""
        return self._server.limiter

    @property
    def settings(self) -> ProtocolSettings:
        """The ``[protocol]`` settings in effect."""
        return self._server.settings

    def notify(self, method: str, params: Any) -> None:
        """Send a notification to the client (dropped before ``initialize`` is answered)."""
        if self._server.dispatcher.state in (Lifecycle.RUNNING, Lifecycle.SHUTDOWN):
            self._server.dispatcher.notify_nowait(method, params)

    def plugins_did_change(self, changes: list[dict[str, Any]]) -> None:
        """Broadcast ``plugins/didChange``: what changed plus every plugin's summary.

        :param changes: one dict per change, e.g. ``{"plugin": "x", "change":
            "reloaded"}`` or ``{"plugin": "x", "change": "reload_failed",
            "error": err.to_wire()}``.
        """
        summaries = [r.summary() for r in self._server.host.plugins.values()]
        self.notify("plugins/didChange", {"changes": changes, "plugins": summaries})

    def log(self, level: str, message: str) -> None:
        """Send ``window/logMessage`` (``level``: error, warning, info, debug)."""
        if self._server.dispatcher.state is not Lifecycle.EXITED:
            self._server.dispatcher.notify_nowait(
                "window/logMessage", {"type": LSP_LOG_TYPES.get(level, 4), "message": message}
            )


class ClientLogHandler(logging.Handler):
    """Forwards host log records to the client as ``window/logMessage``."""

    def __init__(self, service: ProtocolService, level: int) -> None:
        super().__init__(level)
        self._service = service
        self._busy = False

    def emit(self, record: logging.LogRecord) -> None:
        if self._busy:
            return
        self._busy = True
        try:
            level = (
                "error"
                if record.levelno >= logging.ERROR
                else "warning"
                if record.levelno >= logging.WARNING
                else "info"
                if record.levelno >= logging.INFO
                else "debug"
            )
            self._service.log(level, f"{record.name}: {record.getMessage()}")
        except Exception:  # noqa: BLE001 - logging must never raise
            self.handleError(record)
        finally:
            self._busy = False
