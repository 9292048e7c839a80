"""A Python client for ``llf-host serve`` (docs/protocol.md).

Async::

    from llf_host.client import AsyncClient

    async with await AsyncClient.spawn() as client:      # starts `llf-host serve`
        await client.initialize()
        models = await client.request("models/list")
        stream = client.stream_chat("mock/echo", [{"role": "user", "content": "hi"}])
        async for delta in stream:                        # ChatChunk objects
            print(delta.content, end="")
        print(stream.result.usage)                        # the full ChatResult

Sync (the same API on a private event-loop thread)::

    from llf_host.client import Client

    with Client.spawn() as client:
        client.initialize()
        print(client.request("host/health"))

Errors come back as the host's exception classes (``except ModelNotFoundError``);
protocol errors as :class:`RpcError` subclasses. Cancelling the task that awaits
a request sends ``$/cancelRequest``. Server-to-client requests (e.g. tool-call
approval) go to handlers registered with :meth:`AsyncClient.on_request`.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import sys
from collections.abc import Callable
from collections.abc import Sequence
from types import TracebackType
from typing import Any
from typing import Final
from typing import TypeVar

import msgspec

from ._client_errors import ConnectionLostError
from ._client_errors import InvalidParamsError
from ._client_errors import MethodNotFoundError
from ._client_errors import RequestCancelledError
from ._client_errors import RpcError
from ._client_errors import ServerNotInitializedError
from ._client_errors import exception_from_error
from ._client_sync import Client
from ._client_sync import SyncChatStream
from ._errors import LLMError
from ._rpc import wire
from ._rpc.framing import FrameError
from ._rpc.framing import FrameParser
from ._rpc.framing import encode_frame
from ._types import ChatChunk
from ._types import ChatResult

__all__ = [
    "AsyncClient",
    "ChatStream",
    "Client",
    "ConnectionLostError",
    "InvalidParamsError",
    "MethodNotFoundError",
    "RequestCancelledError",
    "RpcError",
    "ServerNotInitializedError",
    "SyncChatStream",
    "exception_from_error",
]

log = logging.getLogger("llf.client")
T = TypeVar("T")
Handler = Callable[[Any], Any]
_MAX_INCOMING: Final = 1 << 31
_END: Final = object()


class ChatStream:
    """Deltas of one ``chat/complete`` call; ``result`` holds the full answer at the end.

    ``async for delta in stream`` yields :class:`~llf_host.ChatChunk` objects;
    ``await stream`` skips the deltas and returns the :class:`~llf_host.ChatResult`.
    Use ``async with`` (or :meth:`aclose`) to cancel a stream you stop reading.
    """

    def __init__(self, client: AsyncClient, params: dict[str, Any], token: str) -> None:
        self._client = client
        self._params = params
        self.token = token
        self._queue: asyncio.Queue[Any] = asyncio.Queue()
        self._task: asyncio.Task[ChatResult] | None = None
        #: The complete result, once the stream has ended.
        self.result: ChatResult | None = None

    def _start(self) -> asyncio.Task[ChatResult]:
        if self._task is None:
            self._client._streams[self.token] = self._queue
            self._task = asyncio.ensure_future(
                self._client.request("chat/complete", self._params, result_type=ChatResult)
            )
            self._task.add_done_callback(self._ended)
        return self._task

    def _ended(self, _task: asyncio.Task[ChatResult]) -> None:
        self._client._streams.pop(self.token, None)
        self._queue.put_nowait(_END)

    def __aiter__(self) -> ChatStream:
        self._start()
        return self

    async def __anext__(self) -> ChatChunk:
        task = self._start()
        item = await self._queue.get()
        if item is _END:
            self.result = await task
            raise StopAsyncIteration
        chunk: ChatChunk = msgspec.convert(item, ChatChunk)
        return chunk

    def __await__(self) -> Any:
        return self._collect().__await__()

    async def _collect(self) -> ChatResult:
        async for _ in self:
            pass
        assert self.result is not None
        return self.result

    async def aclose(self) -> None:
        """Cancel the request if it is still running."""
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, LLMError):
                await self._task

    async def __aenter__(self) -> ChatStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


class AsyncClient:
    """One connection to an ``llf-host serve`` process (or any pair of streams).

    :param reader: where server messages are read from.
    :param writer: where client messages go (``write`` + ``drain``).
    :param process: the server process, when this client started it.
    """

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        process: asyncio.subprocess.Process | None = None,
    ) -> None:
        self._reader = reader
        self._writer = writer
        self.process = process
        self._ids = itertools.count(1)
        self._tokens = itertools.count(1)
        self._pending: dict[wire.MessageId, asyncio.Future[Any]] = {}
        self._streams: dict[str | int, asyncio.Queue[Any]] = {}
        self._request_handlers: dict[str, Handler] = {}
        self._notification_handlers: dict[str, Handler] = {}
        self._served: dict[wire.MessageId, asyncio.Task[None]] = {}
        self._closed: LLMError | None = None
        self._background: set[asyncio.Future[Any]] = set()
        #: The ``initialize`` result, once initialized.
        self.server: dict[str, Any] = {}
        self._read_task = asyncio.get_running_loop().create_task(self._read_loop())

    # -- construction ----------------------------------------------------------------------
    @classmethod
    async def spawn(
        cls,
        *serve_args: str,
        options: Sequence[str] = (),
        command: Sequence[str] | None = None,
        env: dict[str, str] | None = None,
        cwd: str | os.PathLike[str] | None = None,
        stderr: int | None = None,
    ) -> AsyncClient:
        """Start ``llf-host [options] serve [serve_args]`` and connect to it.

        :param options: global options (``--plugins-dir``, ``--debug``...).
        :param command: the program to run (default: this Python's ``-m llf_host._cli``).
        :param stderr: where the server's stderr goes (default: inherited).
        """
        program = list(command) if command else [sys.executable, "-m", "llf_host._cli"]
        process = await asyncio.create_subprocess_exec(
            *program,
            *options,
            "serve",
            *serve_args,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=stderr,
            env=env,
            cwd=cwd,
        )
        assert process.stdout is not None and process.stdin is not None
        return cls(process.stdout, process.stdin, process=process)

    @classmethod
    async def from_fds(cls, read_fd: int, write_fd: int) -> AsyncClient:
        """Connect over two file descriptors (pipes or sockets) the caller owns.

        The client takes ownership of both fds and closes them with the session.
        """
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader(limit=1 << 20)
        await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(read_fd, "rb", buffering=0)
        )
        transport, protocol = await loop.connect_write_pipe(
            asyncio.streams.FlowControlMixin, os.fdopen(write_fd, "wb", buffering=0)
        )
        writer = asyncio.StreamWriter(transport, protocol, None, loop)
        return cls(reader, writer)

    # -- calls -------------------------------------------------------------------------------
    async def initialize(
        self,
        *,
        client_info: dict[str, Any] | None = None,
        capabilities: dict[str, Any] | None = None,
        initialization_options: dict[str, Any] | None = None,
        process_id: int | None = None,
    ) -> dict[str, Any]:
        """``initialize`` then ``initialized``; returns (and keeps) the server's answer."""
        params: dict[str, Any] = {
            "processId": os.getpid() if process_id is None else process_id,
            "clientInfo": client_info or {"name": "llf_host.client"},
            "capabilities": capabilities or {},
        }
        if initialization_options is not None:
            params["initializationOptions"] = initialization_options
        self.server = await self.request("initialize", params)
        await self.notify("initialized", {})
        return self.server

    async def request(
        self,
        method: str,
        params: Any = None,
        *,
        timeout: float | None = None,
        result_type: type[T] | None = None,
    ) -> Any:
        """Send a request and return its result (decoded as ``result_type`` if given).

        Cancelling the awaiting task sends ``$/cancelRequest`` for it.
        """
        if self._closed is not None:
            raise self._closed
        rid = next(self._ids)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[rid] = future
        try:
            await self._send(wire.encode_request(rid, method, params))
            raw = await asyncio.wait_for(future, timeout) if timeout else await future
        except (asyncio.CancelledError, TimeoutError):
            if self._pending.pop(rid, None) is not None and self._closed is None:
                with contextlib.suppress(Exception):
                    await self._send(wire.encode_notification("$/cancelRequest", {"id": rid}))
            raise
        result = (
            msgspec.json.decode(raw)
            if result_type is None
            else msgspec.json.decode(raw, type=result_type)
        )
        return result

    async def notify(self, method: str, params: Any = None) -> None:
        """Send a notification."""
        if self._closed is not None:
            raise self._closed
        await self._send(wire.encode_notification(method, params if params is not None else {}))

    def stream_chat(
        self,
        model: str,
        messages: Sequence[dict[str, Any] | msgspec.Struct],
        *,
        options: dict[str, Any] | None = None,
        tools: Sequence[dict[str, Any] | msgspec.Struct] | None = None,
        **extra: Any,
    ) -> ChatStream:
        """A streaming ``chat/complete`` (see :class:`ChatStream`)."""
        token = f"chat-{next(self._tokens)}"
        params: dict[str, Any] = {
            "model": model,
            "messages": list(messages),
            "stream": {"token": token},
            **extra,
        }
        if options:
            params["options"] = options
        if tools:
            params["tools"] = list(tools)
        return ChatStream(self, params, token)

    async def chat(
        self, model: str, messages: Sequence[dict[str, Any] | msgspec.Struct], **params: Any
    ) -> ChatResult:
        """A non-streaming ``chat/complete``."""
        result: ChatResult = await self.request(
            "chat/complete",
            {"model": model, "messages": list(messages), **params},
            result_type=ChatResult,
        )
        return result

    def on_request(self, method: str, handler: Handler) -> None:
        """Answer server-to-client requests ``method`` with ``handler(params)`` (may be async).

        Raise an :class:`~llf_host.LLMError` from the handler to answer with an error.
        """
        self._request_handlers[method] = handler

    def on_notification(self, method: str, handler: Handler) -> None:
        """Call ``handler(params)`` for every notification ``method`` (``$/progress`` of
        tokens not owned by a :class:`ChatStream`, ``window/logMessage``...)."""
        self._notification_handlers[method] = handler

    # -- I/O ----------------------------------------------------------------------------------
    async def _send(self, body: bytes) -> None:
        self._writer.write(encode_frame(body))
        await self._writer.drain()

    async def _read_loop(self) -> None:
        parser = FrameParser(_MAX_INCOMING)
        reason = "the server closed the connection"
        try:
            while data := await self._reader.read(1 << 18):
                for item in parser.feed(data):
                    if isinstance(item, FrameError):
                        log.warning("bad frame from the server: %s", item.message)
                    else:
                        self._dispatch(item)
        except (ConnectionError, OSError) as exc:
            reason = f"the connection to the server failed: {exc}"
        self._lost(reason)

    def _lost(self, reason: str) -> None:
        code = self.process.returncode if self.process is not None else None
        self._closed = ConnectionLostError(
            reason,
            hint="see the server's stderr for why it stopped",
            returncode=code,
        )
        for future in self._pending.values():
            if not future.done():
                future.set_exception(self._closed)
        self._pending.clear()

    def _dispatch(self, body: bytes) -> None:
        try:
            env = wire.decode_envelope(body)
        except (
            msgspec.DecodeError,
            msgspec.ValidationError,
            UnicodeDecodeError,
            RecursionError,
        ) as exc:
            log.warning("undecodable message from the server: %s", exc)
            return
        if env.method is msgspec.UNSET:
            future = self._pending.pop(env.id, None) if isinstance(env.id, int | str) else None
            if future is None or future.done():
                return
            if env.error:
                future.set_exception(exception_from_error(msgspec.json.decode(env.error)))
            else:
                future.set_result(env.result if env.result else b"null")
            return
        params = msgspec.json.decode(env.params) if env.params else None
        if env.id is msgspec.UNSET or env.id is None:
            self._notification(env.method, params)
        else:
            rid = env.id
            self._served[rid] = asyncio.get_running_loop().create_task(
                self._serve(rid, env.method, params)
            )

    def _notification(self, method: str, params: Any) -> None:
        if method == "$/progress" and isinstance(params, dict):
            queue = self._streams.get(params.get("token"))  # type: ignore[arg-type]
            if queue is not None:
                queue.put_nowait(params.get("value"))
                return
        if method == "$/cancelRequest" and isinstance(params, dict):
            task = self._served.get(params.get("id"))  # type: ignore[arg-type]
            if task is not None:
                task.cancel()
            return
        handler = self._notification_handlers.get(method)
        if handler is not None:
            try:
                outcome = handler(params)
                if asyncio.iscoroutine(outcome):
                    task = asyncio.ensure_future(outcome)
                    self._background.add(task)
                    task.add_done_callback(self._background.discard)
            except Exception:
                log.exception("notification handler for %s failed", method)
        elif method == "window/logMessage" and isinstance(params, dict):
            log.info("server: %s", params.get("message"))

    async def _serve(self, rid: wire.MessageId, method: str, params: Any) -> None:
        handler = self._request_handlers.get(method)
        try:
            if handler is None:
                body = wire.encode_error(
                    rid,
                    wire.error_object(
                        wire.CODE_METHOD_NOT_FOUND,
                        f"this client does not handle {method}",
                        data={"kind": "method_not_found", "method": method},
                    ),
                )
            else:
                outcome = handler(params)
                if asyncio.iscoroutine(outcome) or isinstance(outcome, asyncio.Future):
                    outcome = await outcome
                body = wire.encode_result(rid, outcome)
        except asyncio.CancelledError:
            body = wire.encode_error(
                rid, wire.error_object(wire.CODE_REQUEST_CANCELLED, f"{method} was cancelled")
            )
        except LLMError as exc:
            body = wire.encode_error(rid, exc.to_wire())
        except Exception as exc:
            log.exception("request handler for %s failed", method)
            body = wire.encode_error(
                rid,
                wire.error_object(
                    wire.CODE_INTERNAL_ERROR, f"client handler failed: {type(exc).__name__}"
                ),
            )
        finally:
            self._served.pop(rid, None)
        if self._closed is None:
            with contextlib.suppress(ConnectionError, OSError):
                await self._send(body)

    # -- ending ----------------------------------------------------------------------------------
    @property
    def closed(self) -> bool:
        """True once the connection is gone."""
        return self._closed is not None

    async def shutdown(self, timeout: float = 5.0) -> None:
        """``shutdown`` then ``exit`` (the server then ends with code 0)."""
        await self.request("shutdown", timeout=timeout)
        await self.notify("exit")

    async def aclose(self, timeout: float = 5.0) -> int | None:
        """End the session politely, then close; returns the server's exit code if spawned."""
        if self._closed is None:
            with contextlib.suppress(LLMError, TimeoutError, ConnectionError, OSError):
                await self.shutdown(timeout)
        with contextlib.suppress(Exception):
            self._writer.close()
        code = None
        if self.process is not None:
            try:
                code = await asyncio.wait_for(self.process.wait(), timeout)
            except TimeoutError:
                self.process.kill()
                code = await self.process.wait()
        with contextlib.suppress(TimeoutError, asyncio.CancelledError):
            await asyncio.wait_for(self._read_task, timeout)
        return code

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
