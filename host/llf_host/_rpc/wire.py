"""JSON-RPC 2.0 message shapes and their encoding, shared by server and client.

Incoming bodies decode into one static :class:`Envelope` (no per-message
classes); ``params``, ``result`` and ``error`` stay :class:`msgspec.Raw` so each is
decoded once, straight into the type its handler wants. Outgoing messages are
encoded with one reusable encoder.
"""

from __future__ import annotations

from typing import Any
from typing import Final

import msgspec
from msgspec import UNSET
from msgspec import Raw
from msgspec import UnsetType

__all__ = [
    "CODE_INTERNAL_ERROR",
    "CODE_INVALID_PARAMS",
    "CODE_INVALID_REQUEST",
    "CODE_METHOD_NOT_FOUND",
    "CODE_PARSE_ERROR",
    "CODE_REQUEST_CANCELLED",
    "CODE_SERVER_NOT_INITIALIZED",
    "EMPTY",
    "Envelope",
    "MessageId",
    "decode_envelope",
    "encode_error",
    "encode_notification",
    "encode_request",
    "encode_result",
    "error_object",
    "recover_id",
]

#: JSON-RPC 2.0 and LSP codes used by the host.
CODE_PARSE_ERROR: Final = -32700
CODE_INVALID_REQUEST: Final = -32600
CODE_METHOD_NOT_FOUND: Final = -32601
CODE_INVALID_PARAMS: Final = -32602
CODE_INTERNAL_ERROR: Final = -32603
CODE_SERVER_NOT_INITIALIZED: Final = -32002
CODE_REQUEST_CANCELLED: Final = -32800

MessageId = int | str
#: The ``Raw`` value of an absent member.
EMPTY: Final = Raw()


class Envelope(msgspec.Struct, gc=False):
    """Any JSON-RPC message: request, notification or response.

    Absent members are ``UNSET`` (``id``, ``method``) or an empty ``Raw``
    (``params``, ``result``, ``error``), so ``"id": null`` and a missing id differ.
    """

    jsonrpc: str | UnsetType = UNSET
    id: int | str | UnsetType | None = UNSET
    method: str | UnsetType = UNSET
    params: Raw = EMPTY
    result: Raw = EMPTY
    error: Raw = EMPTY


_envelope_decoder: Final = msgspec.json.Decoder(Envelope)
_encoder: Final = msgspec.json.Encoder()
_encode: Final = _encoder.encode


def decode_envelope(body: bytes) -> Envelope:
    """Decode one message body.

    Raises :class:`msgspec.DecodeError`, :class:`UnicodeDecodeError` or
    :class:`RecursionError` for bodies that are not JSON (answer -32700), and
    :class:`msgspec.ValidationError` for JSON of the wrong shape (-32600).
    """
    return _envelope_decoder.decode(body)


def recover_id(body: bytes) -> tuple[bool, MessageId | None]:
    """For a body whose envelope did not validate: is it JSON at all, and its usable id."""
    try:
        value = msgspec.json.decode(body)
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):
        return False, None
    if isinstance(value, dict):
        found = value.get("id")
        if isinstance(found, int | str) and not isinstance(found, bool):
            return True, found
    return True, None


def error_object(
    code: int, message: str, *, hint: str | None = None, data: dict[str, Any] | None = None
) -> dict[str, Any]:
    """A JSON-RPC ``error`` member; ``hint`` goes into ``data``."""
    payload: dict[str, Any] = dict(data or {})
    if hint:
        payload["hint"] = hint
    error: dict[str, Any] = {"code": code, "message": message}
    if payload:
        error["data"] = payload
    return error


def encode_result(request_id: MessageId | None, result: Any) -> bytes:
    """A success response body. Raises ``TypeError`` if ``result`` cannot be encoded."""
    return _encode({"jsonrpc": "2.0", "id": request_id, "result": result})


def encode_error(request_id: MessageId | None, error: dict[str, Any]) -> bytes:
    """An error response body."""
    return _encode({"jsonrpc": "2.0", "id": request_id, "error": error})


def encode_notification(method: str, params: Any) -> bytes:
    """A notification body."""
    return _encode({"jsonrpc": "2.0", "method": method, "params": params})


def encode_request(request_id: MessageId, method: str, params: Any) -> bytes:
    """A request body (``params`` omitted when ``None``)."""
    if params is None:
        return _encode({"jsonrpc": "2.0", "id": request_id, "method": method})
    return _encode({"jsonrpc": "2.0", "id": request_id, "method": method, "params": params})
