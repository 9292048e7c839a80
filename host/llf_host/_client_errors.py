"""Exceptions of the client library: JSON-RPC protocol errors and a lost connection.

Host errors (-31999..-31000) come back as the host's own classes through
:func:`~llf_host._errors.error_from_wire`; JSON-RPC and LSP codes become the
:class:`RpcError` family defined here.
"""

from __future__ import annotations

from typing import Any
from typing import ClassVar
from typing import Final

from ._errors import LLMError
from ._errors import NotAvailableError
from ._errors import error_from_wire

__all__ = [
    "ConnectionLostError",
    "InvalidParamsError",
    "MethodNotFoundError",
    "RequestCancelledError",
    "RpcError",
    "ServerNotInitializedError",
    "exception_from_error",
]


class RpcError(LLMError):
    """A JSON-RPC protocol error (code -32xxx); ``rpc_code`` holds the code."""

    code: ClassVar[int] = -32603
    kind: ClassVar[str] = "rpc_error"

    @property
    def rpc_code(self) -> int:
        """The JSON-RPC error code the server sent."""
        value = self.data.get("code", type(self).code)
        return int(value) if isinstance(value, int) else type(self).code


class InvalidParamsError(RpcError):
    """-32602: the params did not match the method (``data['field']`` says which)."""

    code = -32602
    kind = "invalid_params"


class MethodNotFoundError(RpcError):
    """-32601: no such method."""

    code = -32601
    kind = "method_not_found"


class RequestCancelledError(RpcError):
    """-32800: the request was cancelled (by another party than this caller)."""

    code = -32800
    kind = "cancelled"


class ServerNotInitializedError(RpcError):
    """-32002: ``initialize`` has not been answered yet."""

    code = -32002
    kind = "not_initialized"


class ConnectionLostError(LLMError):
    """The server closed the connection (or died) before answering."""

    code = -31000
    kind = "connection_lost"


_RPC_ERRORS: Final[dict[int, type[RpcError]]] = {
    cls.code: cls
    for cls in (
        InvalidParamsError,
        MethodNotFoundError,
        RequestCancelledError,
        ServerNotInitializedError,
    )
}


def exception_from_error(error: Any) -> LLMError:
    """The exception for a JSON-RPC ``error`` object (host classes where possible)."""
    if not isinstance(error, dict):
        return RpcError(f"malformed error from the server: {error!r}")
    code = error.get("code")
    message = str(error.get("message", "unknown error"))
    raw = error.get("data")
    data: dict[str, Any] = dict(raw) if isinstance(raw, dict) else {}
    kind = data.get("kind")
    if kind == "not_available":
        hint = data.pop("hint", None)
        data.pop("kind")
        return NotAvailableError(message, hint=hint, code=code, **data)
    if isinstance(code, int) and -32899 <= code <= -32000:
        hint = data.pop("hint", None)
        data.pop("kind", None)
        return _RPC_ERRORS.get(code, RpcError)(message, hint=hint, code=code, **data)
    return error_from_wire(error)
