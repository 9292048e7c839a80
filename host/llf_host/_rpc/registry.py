"""Where protocol methods are declared.

A method handler is an ``async def`` taking the request context and its params
(a :class:`msgspec.Struct` type, decoded and validated by the dispatcher, which
answers -32602 with the field and reason when they do not match)::

    class EchoParams(msgspec.Struct, forbid_unknown_fields=True):
        text: str

    @rpc_method("host/echo", params=EchoParams)
    async def echo(ctx: RequestContext, params: EchoParams) -> dict[str, str]:
        return {"text": params.text}

Handlers return anything msgspec can encode (Structs, dicts, lists, None) and
raise :class:`~llf_host.LLMError` subclasses for failures; the dispatcher maps
those to JSON-RPC errors with their ``code`` and ``data``. Handlers never see
bytes, framing or ids beyond what the context offers.

Method modules live in ``llf_host._rpc.methods`` (one per family) and are listed
in :data:`llf_host._rpc.methods.FAMILY_MODULES`.
"""

from __future__ import annotations

from collections.abc import Awaitable
from collections.abc import Callable
from typing import TYPE_CHECKING
from typing import Any
from typing import Protocol
from typing import TypeVar
from typing import final

import msgspec

if TYPE_CHECKING:
    from .._host import Host

__all__ = ["METHODS", "MethodSpec", "NoParams", "RequestContext", "rpc_method"]


class NoParams(msgspec.Struct, forbid_unknown_fields=True):
    """Params of a method that takes none (``{}``, ``[]`` or absent)."""


class RequestContext(Protocol):
    """What a handler can do besides returning its result."""

    @property
    def host(self) -> Host:
        """The running host."""
        ...

    @property
    def request_id(self) -> int | str:
        """The JSON-RPC id of this request."""
        ...

    @property
    def client_info(self) -> dict[str, Any]:
        """``clientInfo`` from ``initialize`` (name, version), empty if not given."""
        ...

    async def progress(self, token: str | int, value: Any) -> None:
        """Send ``$/progress {token, value}`` to the client that made this request."""
        ...

    async def notify(self, method: str, params: Any) -> None:
        """Send a notification to the client that made this request."""
        ...

    async def request_client(
        self, method: str, params: Any, *, timeout: float | None = None
    ) -> Any:
        """Send a request to the client and await its result (e.g. tool approval)."""
        ...


Handler = Callable[[Any, Any], Awaitable[Any]]
H = TypeVar("H", bound=Handler)


@final
class MethodSpec:
    """A registered method: its name, params type and handler."""

    __slots__ = ("doc", "handler", "inline", "name", "params", "streaming")

    def __init__(
        self,
        name: str,
        params: type[msgspec.Struct],
        handler: Handler,
        *,
        streaming: bool,
        inline: bool = False,
    ) -> None:
        self.name = name
        self.params = params
        self.handler = handler
        self.streaming = streaming
        #: Run the handler's first step inline, before any task exists (see rpc_method).
        self.inline = inline
        self.doc = (handler.__doc__ or "").strip()


#: Every declared method, by name.
METHODS: dict[str, MethodSpec] = {}


def rpc_method(
    name: str,
    *,
    params: type[msgspec.Struct] = NoParams,
    streaming: bool = False,
    inline: bool = False,
) -> Callable[[H], H]:
    """Declare ``name`` as a protocol method handled by the decorated function.

    ``inline=True`` lets the dispatcher run the handler's first step before any
    task exists, saving a task and a loop turn. Only for the host's own cheap
    handlers that never call plugin code: in that first step there is no current
    task, so ``asyncio.timeout``, anyio and httpx would fail.
    """

    def decorate(handler: H) -> H:
        if name in METHODS:
            raise RuntimeError(f"protocol method {name!r} is declared twice")
        METHODS[name] = MethodSpec(name, params, handler, streaming=streaming, inline=inline)
        return handler

    return decorate
