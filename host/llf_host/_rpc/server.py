"""``llf-host serve``: the transport, the dispatcher and the host wired together.

:class:`Server` owns one session: it starts the host while the client sends
``initialize`` (so plugin loading overlaps process start-up), answers
``initialize`` with what this host offers, watches the client's ``processId``,
and ends on ``exit``, on end of input or when the client process dies.

Features reach the session through the ``protocol`` service
(:class:`ProtocolService`, in ``host.services``): notifications such as
``plugins/didChange``, log messages, metrics and the per-plugin limiter.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from typing import TYPE_CHECKING
from typing import Any
from typing import Final
from typing import final

import msgspec

from .._errors import ConfigError
from .._version import HOST_API_VERSION
from .._version import __version__
from . import methods as method_modules
from .dispatcher import LIMITER_SERVICE
from .dispatcher import Dispatcher
from .dispatcher import Lifecycle
from .dispatcher import PluginLimiter
from .families import KNOWN_FAMILIES
from .families import families_of
from .families import unknown_method_error
from .framing import FrameParser
from .metrics import Metrics
from .registry import METHODS
from .registry import RequestContext
from .service import LSP_LOG_TYPES
from .service import ClientLogHandler
from .service import ProtocolService
from .transport import PipeTransport

if TYPE_CHECKING:
    from .._host import Host
    from .._plugins import PluginRecord

__all__ = ["PROTOCOL_VERSION", "ProtocolService", "ProtocolSettings", "Server"]

log = logging.getLogger("llf.rpc")

#: Version of the wire protocol described in docs/protocol.md.
PROTOCOL_VERSION: Final = "1.0"
#: Service name of the :class:`ProtocolService` in ``host.services``.
SERVICE_NAME: Final = "protocol"


class ProtocolSettings(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """The ``[protocol]`` config section."""

    #: Largest message accepted, in bytes (checked from the header, before reading).
    max_message_bytes: int = 64 * 1024 * 1024
    #: Requests running at once before new ones get QueueFullError (-31201).
    max_in_flight: int = 10_000
    #: Lowest level of host log records forwarded as ``window/logMessage``
    #: (``error``, ``warning``, ``info``, ``debug`` or ``off``).
    log_level: str = "warning"
    #: Seconds allowed for shutting plugins down after ``exit``.
    shutdown_timeout_s: float = 5.0

    @classmethod
    def from_section(cls, section: dict[str, Any]) -> ProtocolSettings:
        """Validate the ``[protocol]`` table."""
        try:
            settings = msgspec.convert(section, cls)
        except msgspec.ValidationError as exc:
            raise ConfigError(
                f"[protocol] is invalid: {exc}",
                hint="see docs/protocol.md, section Limits, for the [protocol] keys",
                field="protocol",
            ) from None
        if settings.max_message_bytes < 1024 or settings.max_in_flight < 1:
            raise ConfigError(
                "[protocol] max_message_bytes must be >= 1024 and max_in_flight >= 1",
                hint="raise the values in the [protocol] section",
                field="protocol",
            )
        return settings


class InitializeParams(msgspec.Struct):
    """Params of ``initialize`` (LSP names; unknown members are ignored)."""

    processId: int | None = None
    clientInfo: dict[str, Any] = msgspec.field(default_factory=dict)
    capabilities: dict[str, Any] = msgspec.field(default_factory=dict)
    initializationOptions: dict[str, Any] | None = None
    trace: str | None = None


@final
class _Context:
    """The :class:`~llf_host._rpc.registry.RequestContext` of one request."""

    __slots__ = ("_server", "request_id")

    def __init__(self, server: Server, request_id: int | str) -> None:
        self._server = server
        self.request_id = request_id

    @property
    def host(self) -> Host:
        return self._server.host

    @property
    def client_info(self) -> dict[str, Any]:
        return self._server.client_info

    async def progress(self, token: str | int, value: Any) -> None:
        await self._server.dispatcher.notify("$/progress", {"token": token, "value": value})

    async def notify(self, method: str, params: Any) -> None:
        await self._server.dispatcher.notify(method, params)

    async def request_client(
        self, method: str, params: Any, *, timeout: float | None = None
    ) -> Any:
        return await self._server.dispatcher.request_client(method, params, timeout=timeout)


@final
class Server:
    """One protocol session over a pair of file descriptors.

    :param host: the host to serve (not started yet; the server starts it).
    :param watch: hot reload wanted (``--no-watch`` turns it off).
    :param settings: the ``[protocol]`` settings (default: from the host's config).
    """

    def __init__(
        self, host: Host, *, watch: bool = True, settings: ProtocolSettings | None = None
    ) -> None:
        self.host = host
        self.watch = watch and host.config.host.watch
        self.settings = settings or ProtocolSettings.from_section(host.config.section("protocol"))
        self.limiter = PluginLimiter(host.config.host.plugin_concurrency)
        self.client_info: dict[str, Any] = {}
        self.client_capabilities: dict[str, Any] = {}
        self.started_at = time.time()
        self.service = ProtocolService(self)
        self.dispatcher: Dispatcher
        self._exit: asyncio.Future[int] | None = None
        self._host_start: asyncio.Task[None] | None = None
        self._parent_fd: int | None = None
        self._parent_poll: asyncio.Task[None] | None = None
        self._log_handler: ClientLogHandler | None = None
        self._log_levels: tuple[int, dict[logging.Handler, int]] | None = None
        #: True once ``session.start`` was audited (``session.end`` follows at close).
        self._session_audited = False

    # -- session ------------------------------------------------------------------------
    async def serve(self, read_fd: int, write_fd: int) -> int:
        """Serve until ``exit``, end of input or the client's death; return the exit code."""
        loop = asyncio.get_running_loop()
        method_modules.load_all()
        self._exit = loop.create_future()
        self.host.services[LIMITER_SERVICE] = self.limiter
        self.host.services[SERVICE_NAME] = self.service
        transport = PipeTransport(read_fd, write_fd)
        self.dispatcher = Dispatcher(
            transport,
            methods=METHODS,
            make_context=self._context,
            initialize=self._initialize,
            unknown_method=self._unknown_method,
            on_exit=self.request_exit,
            max_in_flight=self.settings.max_in_flight,
            metrics=Metrics(frozenset({*METHODS, "initialize"})),
        )
        parser = FrameParser(self.settings.max_message_bytes)
        dispatcher = self.dispatcher

        def on_data(data: bytes) -> None:
            # Replies answered while this buffer is read go out in one write.
            transport.cork()
            try:
                for item in parser.feed(data):
                    if type(item) is bytes:
                        dispatcher.handle_body(item)
                    else:
                        dispatcher.handle_frame_error(item)  # type: ignore[arg-type]
            finally:
                transport.uncork()

        self._host_start = loop.create_task(self._start_host())
        await transport.start(on_data, lambda: self.request_exit(0))
        code = await self._exit
        await self._close(transport)
        return code

    async def _start_host(self) -> None:
        """Start the host, then hook redaction, change notifications and the watcher."""
        await self.host.start()
        redactor = self.host.services.get("redactor")
        if redactor is not None:
            # Last line of defence: no stored secret leaves in any protocol message.
            self.dispatcher.redact_body = redactor.redact_wire
        self.host.plugin_listeners.append(self._plugin_changed)
        if self.watch:
            from .._reload import PluginWatcher

            watcher = PluginWatcher(self.host)
            self.host.services["watcher"] = watcher
            watcher.start()

    def _plugin_changed(self, record: PluginRecord, change: str) -> None:
        item: dict[str, Any] = {"plugin": record.name, "change": change, "status": record.status}
        if record.error is not None:
            item["error"] = record.error.to_wire()
        if self.dispatcher.state is not Lifecycle.EXITED:
            self.service.plugins_did_change([item])

    def request_exit(self, code: int) -> None:
        """End the session with ``code`` (the first request wins)."""
        if self._exit is not None and not self._exit.done():
            self._exit.set_result(code)

    async def _close(self, transport: PipeTransport) -> None:
        timeout = self.settings.shutdown_timeout_s
        self._stop_parent_watch()
        self._stop_forwarding_logs()
        await self.dispatcher.cancel_all(timeout=min(2.0, timeout))
        self.dispatcher.state = Lifecycle.EXITED
        try:
            if self._host_start is not None:
                await asyncio.wait_for(self._host_start, timeout)
            if self._session_audited:
                self.host.audit(
                    "session.end",
                    client=self.client_info,
                    duration_s=round(time.time() - self.started_at, 3),
                )
            await asyncio.wait_for(self.host.aclose(), timeout)
        except TimeoutError:
            log.warning("plugins did not shut down within %.1f s; exiting anyway", timeout)
        except Exception:
            log.exception("shutting the host down failed")
        await transport.aclose(timeout)

    def _context(self, request_id: int | str) -> RequestContext:
        return _Context(self, request_id)

    def _unknown_method(self, method: str) -> dict[str, Any]:
        return unknown_method_error(method, METHODS)

    # -- initialize ------------------------------------------------------------------------
    async def _initialize(self, raw: msgspec.Raw) -> dict[str, Any]:
        params = msgspec.json.decode(raw or b"{}", type=InitializeParams)
        self.client_info = dict(params.clientInfo)
        self.client_capabilities = dict(params.capabilities)
        if self._host_start is not None:
            await asyncio.shield(self._host_start)
        self._watch_parent(params.processId)
        self.host.audit(
            "session.start", client=self.client_info, process_id=params.processId, pid=os.getpid()
        )
        self._session_audited = True
        options = params.initializationOptions or {}
        self._forward_logs(str(options.get("logLevel", self.settings.log_level)))
        return self.initialize_result()

    def initialize_result(self) -> dict[str, Any]:
        """What ``initialize`` answers: server, capabilities, limits and plugins."""
        families = families_of(METHODS)
        unavailable = {
            family: f"not available: no plugin provides {family}/* (needs {provider})"
            for family, provider in KNOWN_FAMILIES.items()
            if family not in families
        }
        return {
            "serverInfo": {"name": "llf-host", "version": __version__},
            "protocolVersion": PROTOCOL_VERSION,
            "hostApiVersion": HOST_API_VERSION,
            "capabilities": {
                "methods": sorted(METHODS),
                "families": sorted(f for f in families if f),
                "unavailable": unavailable,
                "streaming": {"progress": "$/progress", "finalResult": "full"},
                "cancellation": True,
                "serverRequests": True,
                "notifications": ["$/progress", "window/logMessage", "plugins/didChange"],
            },
            "limits": {
                "maxMessageBytes": self.settings.max_message_bytes,
                "maxInFlight": self.settings.max_in_flight,
                "pluginConcurrency": self.limiter.size,
            },
            "plugins": [
                {
                    "name": r.name,
                    "version": r.version,
                    "status": r.status,
                    "source": r.source,
                    "contributes": r.contributions.summary(),
                    **({"error": r.error.to_wire()} if r.error is not None else {}),
                }
                for r in self.host.plugins.values()
            ],
        }

    def _forward_logs(self, level: str) -> None:
        if level == "off" or level not in LSP_LOG_TYPES:
            return
        wanted = getattr(logging, level.upper(), logging.WARNING)
        root = logging.getLogger("llf")
        self._log_levels = (root.level, {h: h.level for h in root.handlers})
        current = root.getEffectiveLevel()
        if wanted < current:
            # The client wants more detail than stderr shows: lower the logger,
            # but keep the existing handlers (stderr, log file) where they were.
            for handler in root.handlers:
                if handler.level < current:
                    handler.setLevel(current)
            root.setLevel(wanted)
        self._log_handler = ClientLogHandler(self.service, wanted)
        root.addHandler(self._log_handler)

    def _stop_forwarding_logs(self) -> None:
        if self._log_handler is None:
            return
        root = logging.getLogger("llf")
        root.removeHandler(self._log_handler)
        self._log_handler = None
        if self._log_levels is not None:
            level, handlers = self._log_levels
            root.setLevel(level)
            for handler, handler_level in handlers.items():
                handler.setLevel(handler_level)

    # -- the client's process ------------------------------------------------------------------
    def _watch_parent(self, pid: int | None) -> None:
        if not pid or pid <= 0 or pid == os.getpid():
            return
        if not _pid_alive(pid):
            log.warning("client processId %d is not visible from here; not watching it", pid)
            return
        loop = asyncio.get_running_loop()
        try:
            self._parent_fd = os.pidfd_open(pid)
        except (AttributeError, OSError):
            self._parent_poll = loop.create_task(self._poll_parent(pid))
            return
        loop.add_reader(self._parent_fd, self._parent_died, pid)

    def _parent_died(self, pid: int) -> None:
        log.warning("client process %d is gone; exiting", pid)
        self._stop_parent_watch()
        self.request_exit(1)

    async def _poll_parent(self, pid: int) -> None:
        while _pid_alive(pid):
            await asyncio.sleep(1.0)
        self._parent_died(pid)

    def _stop_parent_watch(self) -> None:
        if self._parent_fd is not None:
            asyncio.get_running_loop().remove_reader(self._parent_fd)
            os.close(self._parent_fd)
            self._parent_fd = None
        if self._parent_poll is not None and self._parent_poll is not asyncio.current_task():
            self._parent_poll.cancel()
            self._parent_poll = None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
