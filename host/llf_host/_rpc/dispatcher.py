"""JSON-RPC dispatch: lifecycle, one task per request, cancellation, exactly one reply.

The dispatcher sits between the framing (it is fed message bodies) and the
method handlers (it calls :class:`~llf_host._rpc.registry.MethodSpec` handlers
with a context and decoded params). It never blocks the reader: each request
runs in its own task, so ``$/cancelRequest``, responses to server→client
requests and ``exit`` are handled as soon as they arrive.

Rules it enforces (docs/protocol.md, "Lifecycle" and "Errors"):

- before ``initialize``: requests get -32002, notifications other than ``exit``
  are dropped; after ``shutdown``: requests get -32600;
- a body that is not JSON gets -32700 with ``id: null``; JSON that is not a
  JSON-RPC message gets -32600 (with the id when one can be read);
- params that do not match the method's type get -32602 naming the field;
- an :class:`~llf_host.LLMError` is sent as its ``to_wire()``; any other
  exception is logged and sent as -32603 without a traceback;
- a cancelled request is answered -32800, and every request is answered once.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import functools
import itertools
import logging
import re
import time
from collections.abc import Awaitable
from collections.abc import Callable
from typing import TYPE_CHECKING
from typing import Any
from typing import Final
from typing import Protocol
from typing import final

import msgspec

from .._errors import LLMError
from .._errors import QueueFullError
from .._errors import error_from_wire
from . import wire
from .framing import FrameError
from .framing import frame_header
from .metrics import Metrics
from .registry import MethodSpec

if TYPE_CHECKING:
    from .._host import Host

__all__ = [
    "Dispatcher",
    "InvalidParams",
    "Lifecycle",
    "Output",
    "PluginLimiter",
    "plugin_slot",
]

log = logging.getLogger("llf.rpc")

#: Service name under which the server registers its :class:`PluginLimiter`.
LIMITER_SERVICE: Final = "plugin_limiter"
_PATH_RE: Final = re.compile(r" - at `\$(?P<path>[^`]*)`$")
_FIELD_RE: Final = re.compile(r"^Object (?:missing required|contains unknown) field `(?P<f>[^`]*)`")
_EMPTY_OBJECT: Final = b"{}"


class Lifecycle(enum.Enum):
    """Where the session is in ``initialize`` → ``shutdown`` → ``exit``."""

    UNINITIALIZED = "uninitialized"
    INITIALIZING = "initializing"
    RUNNING = "running"
    SHUTDOWN = "shutdown"
    EXITED = "exited"


class Output(Protocol):
    """Where the dispatcher writes frames (a :class:`~llf_host._rpc.transport.PipeTransport`)."""

    def write_frame(self, header: bytes, body: bytes) -> None:
        """Queue one frame."""
        ...

    @property
    def paused(self) -> bool:
        """True while the output buffer is full."""
        ...

    async def drain(self) -> None:
        """Wait until the output buffer has room."""
        ...


class InvalidParams(Exception):
    """Raise from a handler to answer -32602 for a param its type cannot express.

    :param field: the param path (``messages[0].role``).
    :param reason: what is wrong with it.
    :param hint: what to send instead.
    """

    def __init__(self, field: str, reason: str, hint: str | None = None) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason
        self.hint = hint


@final
class PluginLimiter:
    """At most ``size`` concurrent calls into each plugin; others wait their turn."""

    def __init__(self, size: int) -> None:
        self.size = max(1, size)
        self._slots: dict[str, asyncio.Semaphore] = {}

    def slot(self, plugin: str) -> asyncio.Semaphore:
        """The semaphore of ``plugin`` (``async with limiter.slot(name): ...``)."""
        sem = self._slots.get(plugin)
        if sem is None:
            sem = self._slots[plugin] = asyncio.Semaphore(self.size)
        return sem

    def busy(self) -> dict[str, int]:
        """Calls running now, per plugin (plugins with none omitted)."""
        out: dict[str, int] = {}
        for name, sem in self._slots.items():
            used = self.size - sem._value
            if used:
                out[name] = used
        return out


def plugin_slot(host: Host, plugin: str) -> contextlib.AbstractAsyncContextManager[Any]:
    """``async with plugin_slot(ctx.host, plugin):`` around calls into plugin code.

    Uses the server's per-plugin limit (``[host] plugin_concurrency``); outside a
    server (no limiter registered) it does nothing.
    """
    limiter = host.services.get(LIMITER_SERVICE)
    if isinstance(limiter, PluginLimiter):
        return limiter.slot(plugin)
    return contextlib.nullcontext()


def _field_error(method: str, exc: msgspec.ValidationError) -> dict[str, Any]:
    text = str(exc)
    match = _PATH_RE.search(text)
    path = match.group("path") if match else ""
    reason = text[: match.start()] if match else text
    named = _FIELD_RE.match(reason)
    if named:
        path = f"{path}.{named.group('f')}"
    field = path.lstrip(".") or "(params)"
    return wire.error_object(
        wire.CODE_INVALID_PARAMS,
        f"invalid params for {method}: {field}: {reason}",
        hint=f"fix `{field}`; the params of {method} are listed in docs/protocol.md",
        data={"kind": "invalid_params", "method": method, "field": field, "reason": reason},
    )


def _params_not_object(method: str) -> dict[str, Any]:
    return wire.error_object(
        wire.CODE_INVALID_PARAMS,
        f"invalid params for {method}: params must be an object of named values",
        hint='send params as a JSON object, e.g. {"model": ...}; positional params '
        "(arrays) are not supported",
        data={"kind": "invalid_params", "method": method, "field": "(params)"},
    )


@final
class Dispatcher:
    """Routes decoded messages to handlers and answers every request once.

    :param output: where frames go.
    :param methods: method name → spec (:data:`~llf_host._rpc.registry.METHODS`).
    :param make_context: builds the handler context for a request id.
    :param initialize: runs ``initialize`` with its raw params and returns the result.
    :param unknown_method: the ``error`` object for a method nobody declared.
    :param on_exit: called once with the exit code when the session must end.
    :param max_in_flight: requests running at once before new ones get QueueFullError.
    """

    def __init__(
        self,
        output: Output,
        *,
        methods: dict[str, MethodSpec],
        make_context: Callable[[wire.MessageId], Any],
        initialize: Callable[[msgspec.Raw], Awaitable[Any]],
        unknown_method: Callable[[str], dict[str, Any]],
        on_exit: Callable[[int], None],
        max_in_flight: int = 10_000,
        metrics: Metrics | None = None,
    ) -> None:
        self._out = output
        self._methods = methods
        self._make_context = make_context
        self._initialize = initialize
        self._unknown_method = unknown_method
        self._on_exit = on_exit
        self.max_in_flight = max_in_flight
        self.metrics = metrics or Metrics(frozenset(methods))
        self.state = Lifecycle.UNINITIALIZED
        self._in_flight: dict[wire.MessageId, asyncio.Task[None]] = {}
        self._client_calls: dict[str, asyncio.Future[Any]] = {}
        self._client_ids = itertools.count(1)
        self._decoders: dict[type[msgspec.Struct], msgspec.json.Decoder[Any]] = {}
        self._loop = asyncio.get_running_loop()

    # -- state ---------------------------------------------------------------------------
    @property
    def in_flight(self) -> int:
        """Requests being handled now."""
        return len(self._in_flight)

    def _write(self, body: bytes) -> None:
        self._out.write_frame(frame_header(len(body)), body)

    # -- input -----------------------------------------------------------------------------
    def handle_frame_error(self, error: FrameError) -> None:
        """Answer a framing problem (bad header, oversized body)."""
        self.metrics.parse_errors += 1
        data = {"kind": "bad_frame", **error.data}
        self._write(
            wire.encode_error(
                error.request_id,
                wire.error_object(error.code, error.message, hint=error.hint, data=data),
            )
        )

    def handle_body(self, body: bytes) -> None:
        """Handle one message body; never raises."""
        try:
            env = wire.decode_envelope(body)
        except msgspec.ValidationError as exc:
            self._reply_invalid(body, exc)
            return
        except (msgspec.DecodeError, UnicodeDecodeError, RecursionError) as exc:
            self.metrics.parse_errors += 1
            self._write(
                wire.encode_error(
                    None,
                    wire.error_object(
                        wire.CODE_PARSE_ERROR,
                        f"message is not valid UTF-8 JSON: {exc}",
                        hint="send one JSON-RPC object per frame, UTF-8 encoded, "
                        "nested at most ~1000 levels",
                        data={"kind": "parse_error"},
                    ),
                )
            )
            return
        if env.jsonrpc != "2.0":
            self._reply_shape(env, 'the "jsonrpc" member must be "2.0"')
            return
        method = env.method
        if method is msgspec.UNSET:
            self._handle_response(env)
        elif env.id is msgspec.UNSET:
            self._handle_notification(method, env.params)
        elif env.id is None:
            self._reply_shape(env, "a request id must be a string or an integer, not null")
        else:
            self._handle_request(env.id, method, env.params)

    def _reply_invalid(self, body: bytes, exc: msgspec.ValidationError) -> None:
        self.metrics.parse_errors += 1
        text = str(exc)
        hint = 'send {"jsonrpc": "2.0", "id": 1, "method": "...", "params": {...}}'
        if text.startswith("Expected `object`, got `array`"):
            hint = "batches are not supported: send one message per frame"
        self._write(
            wire.encode_error(
                wire.recover_id(body),
                wire.error_object(
                    wire.CODE_INVALID_REQUEST,
                    f"not a JSON-RPC 2.0 message: {text}",
                    hint=hint,
                    data={"kind": "invalid_request"},
                ),
            )
        )

    def _reply_shape(self, env: wire.Envelope, reason: str) -> None:
        rid = env.id if isinstance(env.id, int | str) else None
        if (
            env.method is msgspec.UNSET
            and env.id is not msgspec.UNSET
            and self._is_client_call(rid)
        ):
            return  # a malformed answer to our own request: never reply to a response
        self._write(
            wire.encode_error(
                rid,
                wire.error_object(
                    wire.CODE_INVALID_REQUEST,
                    f"invalid request: {reason}",
                    hint='send {"jsonrpc": "2.0", "id": 1, "method": "...", "params": {...}}',
                    data={"kind": "invalid_request"},
                ),
            )
        )

    def _is_client_call(self, rid: object) -> bool:
        return isinstance(rid, str) and rid in self._client_calls

    # -- requests ---------------------------------------------------------------------------
    def _handle_request(self, rid: wire.MessageId, method: str, params: msgspec.Raw) -> None:
        state = self.state
        if state is not Lifecycle.RUNNING:
            self._request_outside_running(rid, method, params)
            return
        if method == "shutdown":
            self.state = Lifecycle.SHUTDOWN
            self._write(wire.encode_result(rid, None))
            return
        spec = self._methods.get(method)
        if spec is None:
            self._reply_error(rid, method, self._unknown_method(method))
            return
        if rid in self._in_flight:
            self._reply_error(
                rid,
                method,
                wire.error_object(
                    wire.CODE_INVALID_REQUEST,
                    f"request id {rid!r} is already in use by a running request",
                    hint="use a new id for every request",
                    data={"kind": "duplicate_id"},
                ),
            )
            return
        if len(self._in_flight) >= self.max_in_flight:
            self._reply_error(
                rid,
                method,
                QueueFullError(
                    f"{len(self._in_flight)} requests are already running",
                    hint="wait for some to finish, or raise [protocol] max_in_flight",
                    limit=self.max_in_flight,
                ).to_wire(),
            )
            return
        task = self._loop.create_task(
            self._run(spec, rid, params, time.perf_counter()), name=method
        )
        self._in_flight[rid] = task

    def _request_outside_running(
        self, rid: wire.MessageId, method: str, params: msgspec.Raw
    ) -> None:
        state = self.state
        if method == "initialize" and state is Lifecycle.UNINITIALIZED:
            self.state = Lifecycle.INITIALIZING
            task = self._loop.create_task(self._run_initialize(rid, params))
            self._in_flight[rid] = task
            return
        if state is Lifecycle.UNINITIALIZED or state is Lifecycle.INITIALIZING:
            code, kind = wire.CODE_SERVER_NOT_INITIALIZED, "not_initialized"
            if method == "initialize":
                message = "initialize is already running"
                hint = "wait for the initialize response"
            else:
                message = f"{method}: the server is not initialized"
                hint = "send initialize first and wait for its response"
        else:
            code, kind = wire.CODE_INVALID_REQUEST, "shut_down"
            if method == "initialize":
                code, kind = wire.CODE_INVALID_REQUEST, "already_initialized"
            message = (
                "initialize was already called"
                if method == "initialize" and state is Lifecycle.RUNNING
                else f"{method}: the server is shutting down"
            )
            hint = "send exit and start a new server"
        self._reply_error(
            rid, method, wire.error_object(code, message, hint=hint, data={"kind": kind})
        )

    def _reply_error(self, rid: wire.MessageId, method: str, error: dict[str, Any]) -> None:
        self.metrics.record(method, 0.0, 1)
        self._write(wire.encode_error(rid, error))

    async def _run_initialize(self, rid: wire.MessageId, params: msgspec.Raw) -> None:
        start = time.perf_counter()
        try:
            result = await self._initialize(params)
            body = wire.encode_result(rid, result)
        except (Exception, asyncio.CancelledError) as exc:  # noqa: BLE001 - answered as an error
            if self.state is Lifecycle.INITIALIZING:
                self.state = Lifecycle.UNINITIALIZED
            self._finish(rid, "initialize", start, 1, self._error_body(rid, "initialize", exc))
            return
        if self.state is Lifecycle.INITIALIZING:
            self.state = Lifecycle.RUNNING
        self._finish(rid, "initialize", start, 0, body)

    def _decode_params(self, spec: MethodSpec, raw: msgspec.Raw) -> Any:
        data: msgspec.Raw | bytes = raw
        view = memoryview(raw)
        if not view:
            data = _EMPTY_OBJECT
        elif view[0] != 0x7B:  # not "{": only null and [] stand for "no params"
            if bytes(view) not in (b"null", b"[]"):
                raise _ParamsNotObject
            data = _EMPTY_OBJECT
        decoder = self._decoders.get(spec.params)
        if decoder is None:
            decoder = self._decoders[spec.params] = msgspec.json.Decoder(spec.params)
        return decoder.decode(data)

    async def _run(
        self, spec: MethodSpec, rid: wire.MessageId, raw: msgspec.Raw, start: float
    ) -> None:
        outcome = 0
        try:
            params = self._decode_params(spec, raw)
            result = await spec.handler(self._make_context(rid), params)
            body = wire.encode_result(rid, result)
        except asyncio.CancelledError:
            outcome = 2
            body = self._error_body(rid, spec.name, asyncio.CancelledError())
        except BaseException as exc:
            outcome = 1
            body = self._error_body(rid, spec.name, exc)
            if not isinstance(exc, Exception):
                self._finish(rid, spec.name, start, outcome, body)
                raise
        self._finish(rid, spec.name, start, outcome, body)
        if self._out.paused:
            await self._out.drain()

    def _finish(
        self, rid: wire.MessageId, method: str, start: float, outcome: int, body: bytes
    ) -> None:
        if self._in_flight.pop(rid, None) is None:
            return
        self.metrics.record(method, time.perf_counter() - start, outcome)
        self._write(body)

    def _error_body(self, rid: wire.MessageId, method: str, exc: BaseException) -> bytes:
        if isinstance(exc, asyncio.CancelledError):
            error = wire.error_object(
                wire.CODE_REQUEST_CANCELLED,
                f"{method} was cancelled",
                data={"kind": "cancelled", "method": method},
            )
        elif isinstance(exc, LLMError):
            error = exc.to_wire()
        elif isinstance(exc, msgspec.ValidationError):
            error = _field_error(method, exc)
        elif exc is _ParamsNotObject:
            error = _params_not_object(method)
        elif isinstance(exc, InvalidParams):
            error = wire.error_object(
                wire.CODE_INVALID_PARAMS,
                f"invalid params for {method}: {exc.field}: {exc.reason}",
                hint=exc.hint or f"the params of {method} are listed in docs/protocol.md",
                data={"kind": "invalid_params", "method": method, "field": exc.field},
            )
        else:
            log.error("internal error in %s", method, exc_info=exc)
            error = wire.error_object(
                wire.CODE_INTERNAL_ERROR,
                f"internal error in {method}: {type(exc).__name__}",
                hint="this is a bug; the details are in the host's log (stderr)",
                data={"kind": "internal", "method": method},
            )
        if error.get("data", {}).get("kind") == "invalid_params":
            self._audit_invalid(rid, method, error)
        try:
            return wire.encode_error(rid, error)
        except (TypeError, msgspec.EncodeError):
            # An LLMError whose data cannot be encoded: keep the message only.
            return wire.encode_error(
                rid, {"code": error.get("code", -32603), "message": str(error.get("message"))}
            )

    def _audit_invalid(self, rid: wire.MessageId, method: str, error: dict[str, Any]) -> None:
        """A ``validation.failed`` audit event for params a method refused (never values)."""
        try:
            host = self._make_context(rid).host
            host.audit("validation.failed", method=method, field=error["data"].get("field"))
        except Exception:  # auditing must never change the answer
            log.debug("could not audit the invalid params of %s", method, exc_info=True)

    def _after_cancel(self, rid: wire.MessageId, task: asyncio.Task[None]) -> None:
        # A request cancelled before its task ever ran never reached its own
        # except-clause; answer it here so it still gets exactly one reply.
        if self._in_flight.get(rid) is task:
            method = task.get_name()
            body = self._error_body(rid, method, asyncio.CancelledError())
            self._finish(rid, method, time.perf_counter(), 2, body)

    def cancel(self, rid: object) -> bool:
        """Cancel the running request ``rid``; True when there was one."""
        if not isinstance(rid, int | str) or isinstance(rid, bool):
            return False
        task = self._in_flight.get(rid)
        if task is None or task.done():
            return False
        if task.cancel():
            task.add_done_callback(functools.partial(self._after_cancel, rid))
        return True

    # -- notifications ----------------------------------------------------------------------
    def _handle_notification(self, method: str, params: msgspec.Raw) -> None:
        if method == "exit":
            code = 0 if self.state is Lifecycle.SHUTDOWN else 1
            self.state = Lifecycle.EXITED
            self._on_exit(code)
        elif method == "$/cancelRequest":
            try:
                value = msgspec.json.decode(params) if params else None
            except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):
                value = None
            if isinstance(value, dict):
                self.cancel(value.get("id"))
        elif method == "initialized" or method.startswith("$/"):
            return
        elif self.state is Lifecycle.RUNNING:
            log.debug("notification %s ignored: methods are requests", method)

    # -- responses to our own requests --------------------------------------------------------
    def _handle_response(self, env: wire.Envelope) -> None:
        rid = env.id
        if rid is msgspec.UNSET:
            self._reply_shape(env, 'a message needs "method" (request) or "id" (response)')
            return
        future = self._client_calls.pop(rid, None) if isinstance(rid, str) else None
        if future is None:
            log.debug("response for unknown request id %r ignored", rid)
            return
        if future.done():
            return
        try:
            if env.error:
                error = msgspec.json.decode(env.error)
                future.set_exception(
                    error_from_wire(error if isinstance(error, dict) else {"message": str(error)})
                )
            else:
                future.set_result(msgspec.json.decode(env.result) if env.result else None)
        except (msgspec.DecodeError, UnicodeDecodeError, RecursionError) as exc:
            future.set_exception(
                LLMError(f"the client's answer could not be decoded: {exc}", kind="bad_response")
            )

    # -- output to the client ------------------------------------------------------------------
    def notify_nowait(self, method: str, params: Any) -> None:
        """Send a notification without waiting for buffer room (logs, broadcasts)."""
        if self.state is Lifecycle.EXITED:
            return
        self._write(wire.encode_notification(method, params))

    async def notify(self, method: str, params: Any) -> None:
        """Send a notification, waiting while the output buffer is full."""
        self.notify_nowait(method, params)
        if self._out.paused:
            await self._out.drain()

    async def request_client(
        self, method: str, params: Any, *, timeout: float | None = None
    ) -> Any:
        """Send a request to the client and return its result (raises its error)."""
        if self.state is not Lifecycle.RUNNING:
            raise LLMError(
                f"cannot ask the client ({method}): the session is {self.state.value}",
                hint="server-to-client requests are only possible after initialize",
                method=method,
            )
        rid = f"llf-{next(self._client_ids)}"
        future: asyncio.Future[Any] = self._loop.create_future()
        self._client_calls[rid] = future
        try:
            self._write(wire.encode_request(rid, method, params))
            if self._out.paused:
                await self._out.drain()
            return await asyncio.wait_for(future, timeout)
        except TimeoutError:
            self.notify_nowait("$/cancelRequest", {"id": rid})
            raise LLMError(
                f"the client did not answer {method} within {timeout} s",
                hint="make sure the client handles this request (docs/protocol.md)",
                method=method,
                timeout=timeout,
            ) from None
        except asyncio.CancelledError:
            if not future.done():
                self.notify_nowait("$/cancelRequest", {"id": rid})
            raise
        finally:
            self._client_calls.pop(rid, None)

    # -- ending --------------------------------------------------------------------------------
    async def cancel_all(self, timeout: float = 2.0) -> None:
        """Cancel every running request and pending client request; wait for the replies."""
        for future in self._client_calls.values():
            future.cancel()
        tasks = list(self._in_flight.values())
        for rid, task in list(self._in_flight.items()):
            if task.cancel():
                task.add_done_callback(functools.partial(self._after_cancel, rid))
        if tasks:
            await asyncio.wait(tasks, timeout=timeout)


class _ParamsNotObjectError(Exception):
    pass


_ParamsNotObject: Final = _ParamsNotObjectError("params must be an object")
