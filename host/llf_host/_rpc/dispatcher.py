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
import contextvars
import enum
import functools
import logging
import time
from collections.abc import Awaitable
from collections.abc import Callable
from typing import Any
from typing import Final
from typing import Protocol
from typing import final

import msgspec

from .._errors import LLMError
from . import wire
from .eager import COROUTINE
from .eager import Continuation
from .framing import FrameError
from .framing import frame_header
from .handling import LIMITER_SERVICE
from .handling import InvalidParams
from .handling import PluginLimiter
from .handling import plugin_slot
from .metrics import Metrics
from .outgoing import ClientCalls
from .registry import MethodSpec
from .replies import PARAMS_NOT_OBJECT
from .replies import duplicate_id
from .replies import encode_error_safely
from .replies import error_for_exception
from .replies import invalid_request
from .replies import not_running
from .replies import parse_error
from .replies import queue_full

__all__ = [
    "LIMITER_SERVICE",
    "Dispatcher",
    "InvalidParams",
    "Lifecycle",
    "Output",
    "PluginLimiter",
    "plugin_slot",
]

log = logging.getLogger("llf.rpc")

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
        #: Applied to every outgoing message (the key store's redactor, once unlocked).
        self.redact_body: Callable[[bytes], bytes] | None = None
        self._methods = methods
        self._make_context = make_context
        self._initialize = initialize
        self._unknown_method = unknown_method
        self._on_exit = on_exit
        self.max_in_flight = max_in_flight
        self.metrics = metrics or Metrics(frozenset(methods))
        self.state = Lifecycle.UNINITIALIZED
        self._in_flight: dict[wire.MessageId, asyncio.Task[None]] = {}
        self._client_calls = ClientCalls()
        self._decoders: dict[type[msgspec.Struct], msgspec.json.Decoder[Any]] = {}
        self._loop = asyncio.get_running_loop()

    # -- state ---------------------------------------------------------------------------
    @property
    def in_flight(self) -> int:
        """Requests being handled now."""
        return len(self._in_flight)

    def _write(self, body: bytes) -> None:
        if self.redact_body is not None:
            body = self.redact_body(body)
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
            self._write(parse_error(exc))
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
        is_json, rid = wire.recover_id(body)
        if not is_json:  # the shape check failed before the JSON did
            try:
                msgspec.json.decode(body)
            except (msgspec.DecodeError, UnicodeDecodeError, RecursionError) as decode_error:
                self._write(parse_error(decode_error))
            return
        text = str(exc)
        batch = text.startswith("Expected `object`, got `array`")
        self._write(invalid_request(rid, f"not a JSON-RPC 2.0 message: {text}", batch=batch))

    def _reply_shape(self, env: wire.Envelope, reason: str) -> None:
        rid = env.id if isinstance(env.id, int | str) else None
        if (
            env.method is msgspec.UNSET
            and env.id is not msgspec.UNSET
            and self._is_client_call(rid)
        ):
            return  # a malformed answer to our own request: never reply to a response
        self._write(invalid_request(rid, reason))

    def _is_client_call(self, rid: object) -> bool:
        return self._client_calls.knows(rid)

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
        if method == "initialize":
            self._reply_error(rid, method, not_running(method, state.value))
            return
        spec = self._methods.get(method)
        if spec is None:
            self._reply_error(rid, method, self._unknown_method(method))
            return
        if rid in self._in_flight:
            self._reply_error(rid, method, duplicate_id(rid))
            return
        if len(self._in_flight) >= self.max_in_flight:
            self._reply_error(rid, method, queue_full(len(self._in_flight), self.max_in_flight))
            return
        self._start_request(spec, rid, params)

    def _request_outside_running(
        self, rid: wire.MessageId, method: str, params: msgspec.Raw
    ) -> None:
        state = self.state
        if method == "initialize" and state is Lifecycle.UNINITIALIZED:
            self.state = Lifecycle.INITIALIZING
            task = self._loop.create_task(_awaited(self._initialize(params)))
            self._track(rid, "initialize", time.perf_counter(), task)
            return
        self._reply_error(rid, method, not_running(method, state.value))

    def _reply_error(self, rid: wire.MessageId, method: str, error: dict[str, Any]) -> None:
        self.metrics.record(method, 0.0, 1)
        self._write(wire.encode_error(rid, error))

    def _initialized(self, ok: bool) -> None:
        if self.state is Lifecycle.INITIALIZING:
            self.state = Lifecycle.RUNNING if ok else Lifecycle.UNINITIALIZED

    def _decode_params(self, spec: MethodSpec, raw: msgspec.Raw) -> Any:
        data: msgspec.Raw | bytes = raw
        view = memoryview(raw)
        if not view:
            data = _EMPTY_OBJECT
        elif view[0] != 0x7B:  # not "{": only null and [] stand for "no params"
            if bytes(view) not in (b"null", b"[]"):
                raise PARAMS_NOT_OBJECT
            data = _EMPTY_OBJECT
        decoder = self._decoders.get(spec.params)
        if decoder is None:
            decoder = self._decoders[spec.params] = msgspec.json.Decoder(spec.params)
        return decoder.decode(data)

    def _start_request(self, spec: MethodSpec, rid: wire.MessageId, raw: msgspec.Raw) -> None:
        """Start a handler: in a task, or (``inline`` methods) its first step at once.

        The host's own cheap handlers (health, echo) finish without waiting:
        they are answered here, with no task and no extra loop turn. One that
        awaits continues in a task from where it stopped (what Python 3.12's
        eager tasks do), in its own context copy; the task's done-callback
        writes the one reply, whatever happened (result, error, cancelled even
        before the task ran).
        """
        start = time.perf_counter()
        try:
            params = self._decode_params(spec, raw)
            coro = spec.handler(self._make_context(rid), params)
        except Exception as exc:  # noqa: BLE001 - answered as an error
            self._reply_now(rid, spec.name, start, 1, self._error_body(rid, spec.name, exc))
            return
        if type(coro) is not COROUTINE:
            self._track(rid, spec.name, start, self._loop.create_task(_awaited(coro)))
            return
        if not spec.inline:
            # Plugin code may need a current task (asyncio.timeout, anyio, httpx).
            self._track(rid, spec.name, start, self._loop.create_task(coro))
            return
        context = contextvars.copy_context()
        try:
            yielded = context.run(coro.send, None)
        except StopIteration as stop:
            try:
                body = wire.encode_result(rid, stop.value)
            except Exception as exc:  # noqa: BLE001 - answered as an error
                self._reply_now(rid, spec.name, start, 1, self._error_body(rid, spec.name, exc))
                return
            self._reply_now(rid, spec.name, start, 0, body)
            return
        except Exception as exc:  # noqa: BLE001 - answered as an error
            self._reply_now(rid, spec.name, start, 1, self._error_body(rid, spec.name, exc))
            return
        task = self._loop.create_task(Continuation(coro, yielded), context=context)
        self._track(rid, spec.name, start, task)

    def _track(
        self, rid: wire.MessageId, method: str, start: float, task: asyncio.Task[Any]
    ) -> None:
        self._in_flight[rid] = task
        task.add_done_callback(functools.partial(self._task_done, rid, method, start))

    def _task_done(
        self, rid: wire.MessageId, method: str, start: float, task: asyncio.Task[Any]
    ) -> None:
        if self._in_flight.get(rid) is task:
            del self._in_flight[rid]
        outcome = 0
        if task.cancelled():
            outcome = 2
            body = self._error_body(rid, method, asyncio.CancelledError())
        else:
            exc = task.exception()
            if exc is not None:
                outcome = 1
                body = self._error_body(rid, method, exc)
            else:
                try:
                    body = wire.encode_result(rid, task.result())
                except Exception as encode_exc:  # noqa: BLE001 - answered as an error
                    outcome = 1
                    body = self._error_body(rid, method, encode_exc)
        if method == "initialize":
            self._initialized(outcome == 0)
        self._reply_now(rid, method, start, outcome, body)

    def _reply_now(
        self, rid: wire.MessageId, method: str, start: float, outcome: int, body: bytes
    ) -> None:
        self.metrics.record(method, time.perf_counter() - start, outcome)
        self._write(body)

    def _error_body(self, rid: wire.MessageId, method: str, exc: BaseException) -> bytes:
        error = error_for_exception(method, exc)
        if error.get("data", {}).get("kind") == "invalid_params":
            self._audit_invalid(rid, method, error)
        return encode_error_safely(rid, error)

    def _audit_invalid(self, rid: wire.MessageId, method: str, error: dict[str, Any]) -> None:
        """A ``validation.failed`` audit event for params a method refused (never values)."""
        try:
            host = self._make_context(rid).host
            host.audit("validation.failed", method=method, field=error["data"].get("field"))
        except Exception:  # auditing must never change the answer
            log.debug("could not audit the invalid params of %s", method, exc_info=True)

    def cancel(self, rid: object) -> bool:
        """Cancel the running request ``rid``; True when there was one."""
        if not isinstance(rid, int | str) or isinstance(rid, bool):
            return False
        task = self._in_flight.get(rid)
        if task is None or task.done():
            return False
        return task.cancel()

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
        self._client_calls.resolve(env)

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
        rid, future = self._client_calls.open()
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
            self._client_calls.discard(rid)

    # -- ending --------------------------------------------------------------------------------
    async def cancel_all(self, timeout: float = 2.0) -> None:
        """Cancel every running request and pending client request; wait for the replies."""
        self._client_calls.cancel_all()
        tasks = list(self._in_flight.values())
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=timeout)


async def _awaited(awaitable: Awaitable[Any]) -> Any:
    return await awaitable
