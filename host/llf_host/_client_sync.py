"""The synchronous face of :class:`~llf_host.client.AsyncClient` (re-exported there)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from collections.abc import Awaitable
from collections.abc import Callable
from collections.abc import Sequence
from typing import TYPE_CHECKING
from typing import Any
from typing import TypeVar

if TYPE_CHECKING:
    from ._types import ChatChunk
    from ._types import ChatResult
    from .client import AsyncClient
    from .client import ChatStream

__all__ = ["Client", "SyncChatStream"]

T = TypeVar("T")
Handler = Callable[[Any], Any]


class Client:
    """The synchronous face of :class:`AsyncClient`: same calls, blocking.

    It runs an event loop on a private daemon thread, so server notifications and
    requests are handled while the caller is busy elsewhere.
    """

    def __init__(self, start: Callable[[], Awaitable[AsyncClient]]) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="llf-client", daemon=True
        )
        self._thread.start()
        self._async = self._call(start())

    @classmethod
    def spawn(cls, *serve_args: str, **kwargs: Any) -> Client:
        """Start ``llf-host serve`` (same arguments as :meth:`AsyncClient.spawn`)."""
        from .client import AsyncClient

        return cls(lambda: AsyncClient.spawn(*serve_args, **kwargs))

    def _call(self, coro: Awaitable[T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()  # type: ignore[arg-type]

    @property
    def server(self) -> dict[str, Any]:
        """The ``initialize`` result."""
        return self._async.server

    def initialize(self, **kwargs: Any) -> dict[str, Any]:
        """See :meth:`AsyncClient.initialize`."""
        return self._call(self._async.initialize(**kwargs))

    def request(self, method: str, params: Any = None, **kwargs: Any) -> Any:
        """See :meth:`AsyncClient.request`."""
        return self._call(self._async.request(method, params, **kwargs))

    def notify(self, method: str, params: Any = None) -> None:
        """See :meth:`AsyncClient.notify`."""
        self._call(self._async.notify(method, params))

    def chat(self, model: str, messages: Sequence[Any], **params: Any) -> ChatResult:
        """See :meth:`AsyncClient.chat`."""
        return self._call(self._async.chat(model, messages, **params))

    def stream_chat(self, model: str, messages: Sequence[Any], **kwargs: Any) -> SyncChatStream:
        """Iterate deltas; ``.result`` holds the ChatResult afterwards."""
        return SyncChatStream(self, self._async.stream_chat(model, messages, **kwargs))

    def on_request(self, method: str, handler: Handler) -> None:
        """See :meth:`AsyncClient.on_request` (the handler runs on the client thread)."""
        self._async.on_request(method, handler)

    def on_notification(self, method: str, handler: Handler) -> None:
        """See :meth:`AsyncClient.on_notification`."""
        self._async.on_notification(method, handler)

    def close(self, timeout: float = 5.0) -> int | None:
        """End the session and stop the loop thread; returns the server's exit code."""
        try:
            return self._call(self._async.aclose(timeout))
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout)
            if not self._thread.is_alive():
                self._loop.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class SyncChatStream:
    """Blocking iteration over a :class:`ChatStream`."""

    def __init__(self, client: Client, stream: ChatStream) -> None:
        self._client = client
        self._stream = stream
        self._iter: AsyncIterator[ChatChunk] | None = None

    @property
    def result(self) -> ChatResult | None:
        """The full result, once iteration has ended."""
        return self._stream.result

    def __iter__(self) -> SyncChatStream:
        return self

    def __next__(self) -> ChatChunk:
        async def step() -> ChatChunk | None:
            if self._iter is None:
                self._iter = self._stream.__aiter__()
            try:
                return await self._iter.__anext__()
            except StopAsyncIteration:
                return None

        chunk = self._client._call(step())
        if chunk is None:
            raise StopIteration
        return chunk

    def close(self) -> None:
        """Cancel the request if it is still running."""
        self._client._call(self._stream.aclose())
