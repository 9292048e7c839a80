"""Error replies: what each failure looks like on the wire.

One function, :func:`error_for_exception`, is the boundary between Python
exceptions and JSON-RPC ``error`` objects: cancellation → -32800, LLMError →
its own code and data, params that do not match their type → -32602 naming the
field, anything else → -32603 with the details in the log, never on the wire.
"""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Any
from typing import Final

import msgspec

from .._errors import LLMError
from .._errors import QueueFullError
from . import wire
from .handling import InvalidParams

__all__ = [
    "PARAMS_NOT_OBJECT",
    "duplicate_id",
    "encode_error_safely",
    "error_for_exception",
    "invalid_request",
    "not_running",
    "parse_error",
    "queue_full",
]

log = logging.getLogger("llf.rpc")

_PATH_RE: Final = re.compile(r" - at `\$(?P<path>[^`]*)`$")
_FIELD_RE: Final = re.compile(r"^Object (?:missing required|contains unknown) field `(?P<f>[^`]*)`")
_REQUEST_SHAPE: Final = 'send {"jsonrpc": "2.0", "id": 1, "method": "...", "params": {...}}'


class _ParamsNotObjectError(Exception):
    pass


#: Raised by the dispatcher for params that are not a JSON object.
PARAMS_NOT_OBJECT: Final = _ParamsNotObjectError("params must be an object")


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


def error_for_exception(method: str, exc: BaseException) -> dict[str, Any]:
    """The ``error`` object answering a request of ``method`` that raised ``exc``."""
    if isinstance(exc, asyncio.CancelledError):
        return wire.error_object(
            wire.CODE_REQUEST_CANCELLED,
            f"{method} was cancelled",
            data={"kind": "cancelled", "method": method},
        )
    if isinstance(exc, LLMError):
        return exc.to_wire()
    if isinstance(exc, msgspec.ValidationError):
        return _field_error(method, exc)
    if exc is PARAMS_NOT_OBJECT:
        return wire.error_object(
            wire.CODE_INVALID_PARAMS,
            f"invalid params for {method}: params must be an object of named values",
            hint='send params as a JSON object, e.g. {"model": ...}; positional params '
            "(arrays) are not supported",
            data={"kind": "invalid_params", "method": method, "field": "(params)"},
        )
    if isinstance(exc, InvalidParams):
        return wire.error_object(
            wire.CODE_INVALID_PARAMS,
            f"invalid params for {method}: {exc.field}: {exc.reason}",
            hint=exc.hint or f"the params of {method} are listed in docs/protocol.md",
            data={"kind": "invalid_params", "method": method, "field": exc.field},
        )
    log.error("internal error in %s", method, exc_info=exc)
    return wire.error_object(
        wire.CODE_INTERNAL_ERROR,
        f"internal error in {method}: {type(exc).__name__}",
        hint="this is a bug; the details are in the host's log (stderr)",
        data={"kind": "internal", "method": method},
    )


def encode_error_safely(rid: wire.MessageId | None, error: dict[str, Any]) -> bytes:
    """Encode an error reply; data that cannot be encoded is dropped, not fatal."""
    try:
        return wire.encode_error(rid, error)
    except (TypeError, msgspec.EncodeError):
        return wire.encode_error(
            rid, {"code": error.get("code", -32603), "message": str(error.get("message"))}
        )


def parse_error(exc: BaseException) -> bytes:
    """The -32700 reply (``id: null``) for a body that is not UTF-8 JSON."""
    return wire.encode_error(
        None,
        wire.error_object(
            wire.CODE_PARSE_ERROR,
            f"message is not valid UTF-8 JSON: {exc}",
            hint="send one JSON-RPC object per frame, UTF-8 encoded, nested at most ~1000 levels",
            data={"kind": "parse_error"},
        ),
    )


def invalid_request(rid: wire.MessageId | None, reason: str, *, batch: bool = False) -> bytes:
    """The -32600 reply for JSON that is not a JSON-RPC 2.0 message."""
    hint = "batches are not supported: send one message per frame" if batch else _REQUEST_SHAPE
    return wire.encode_error(
        rid,
        wire.error_object(
            wire.CODE_INVALID_REQUEST,
            f"invalid request: {reason}",
            hint=hint,
            data={"kind": "invalid_request"},
        ),
    )


def not_running(method: str, state: str) -> dict[str, Any]:
    """The error for a request outside the running state (LSP lifecycle rules).

    Before ``initialize`` is answered: -32002; after ``shutdown`` (or a second
    ``initialize``): -32600.
    """
    if state in ("uninitialized", "initializing"):
        if method == "initialize":
            message, hint = "initialize is already running", "wait for the initialize response"
        else:
            message = f"{method}: the server is not initialized"
            hint = "send initialize first and wait for its response"
        return wire.error_object(
            wire.CODE_SERVER_NOT_INITIALIZED, message, hint=hint, data={"kind": "not_initialized"}
        )
    if method == "initialize" and state == "running":
        return wire.error_object(
            wire.CODE_INVALID_REQUEST,
            "initialize was already called",
            hint="initialize once per session",
            data={"kind": "already_initialized"},
        )
    return wire.error_object(
        wire.CODE_INVALID_REQUEST,
        f"{method}: the server is shutting down",
        hint="send exit and start a new server",
        data={"kind": "shut_down"},
    )


def duplicate_id(rid: wire.MessageId) -> dict[str, Any]:
    """The error for a request whose id is used by a request still running."""
    return wire.error_object(
        wire.CODE_INVALID_REQUEST,
        f"request id {rid!r} is already in use by a running request",
        hint="use a new id for every request",
        data={"kind": "duplicate_id"},
    )


def queue_full(running: int, limit: int) -> dict[str, Any]:
    """The error for a request beyond ``[protocol] max_in_flight``."""
    return QueueFullError(
        f"{running} requests are already running",
        hint="wait for some to finish, or raise [protocol] max_in_flight",
        limit=limit,
    ).to_wire()
