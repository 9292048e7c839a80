"""Reading a chat response body into :class:`~llf_host.ChatChunk` values.

:func:`sse_chunks` reads an OpenAI-style event stream: it stops at ``data:
[DONE]``, accepts a clean end of stream once a ``finish_reason`` was seen, and
raises :class:`~llf_host.ProviderResponseError` for a stream that ends without
either (truncated) or breaks mid-way. :func:`ndjson_chunks` does the same for
Ollama's native lines, which end with ``"done": true``. Both check every payload
for an ``error`` before reading it as content (engines report failures
mid-stream, after the 200). :func:`whole_response` reads a non-streamed answer.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import TYPE_CHECKING
from typing import Any

import msgspec

from llf_host import ChatChunk
from llf_host import ProviderResponseError

from .errors import ErrorContext
from .errors import error_from_payload
from .errors import error_from_transport
from .ndjson import NDJSONParser
from .normalise import OllamaToolIndex
from .normalise import ollama_line
from .normalise import openai_chunk
from .profiles import Wire
from .sse import SSEEvent
from .sse import SSEParser

if TYPE_CHECKING:
    import httpx

__all__ = ["ndjson_chunks", "sse_chunks", "whole_response"]

_decode = msgspec.json.decode
_DONE = "[DONE]"


def _bad(ctx: ErrorContext, what: str, **data: Any) -> ProviderResponseError:
    return ProviderResponseError(
        f"{ctx.where} sent {what}",
        hint="check the server's log; if it is an OpenAI-compatible proxy, make sure it "
        "streams unmodified server-sent events",
        **ctx.data(**data),
    )


def _truncated(ctx: ErrorContext, how: str) -> ProviderResponseError:
    return ProviderResponseError(
        f"the answer from {ctx.where} was cut off: {how}",
        hint="the server may have crashed, restarted or been interrupted by another request; "
        "check its log and retry",
        **ctx.data(reason="truncated"),
    )


def _event_chunk(ctx: ErrorContext, event: SSEEvent) -> ChatChunk | None:
    try:
        obj = _decode(event.data)
    except msgspec.DecodeError:
        if not event.complete:
            raise _truncated(ctx, "the last event is incomplete") from None
        raise _bad(ctx, f"an event that is not JSON: {event.data[:200]!r}") from None
    if not isinstance(obj, dict):
        raise _bad(ctx, f"an event that is not a JSON object: {event.data[:200]!r}")
    if "error" in obj or event.event == "error":
        error = error_from_payload(ctx, obj)
        if error is not None:
            raise error
    return openai_chunk(obj)


async def sse_chunks(
    response: httpx.Response, ctx: ErrorContext
) -> AsyncGenerator[ChatChunk, None]:
    """Normalised chunks from an OpenAI-style SSE response."""
    import httpx

    parser = SSEParser()
    finished = False
    try:
        async for raw in response.aiter_bytes():
            for event in parser.feed(raw):
                if event.data == _DONE:
                    return
                chunk = _event_chunk(ctx, event)
                if chunk is not None:
                    if chunk.finish_reason:
                        finished = True
                    yield chunk
    except httpx.HTTPError as exc:
        raise error_from_transport(ctx, exc, streaming=True) from None
    for event in parser.close():
        if event.data == _DONE:
            return
        chunk = _event_chunk(ctx, event)
        if chunk is not None:
            finished = finished or bool(chunk.finish_reason)
            yield chunk
    if not finished:
        raise _truncated(ctx, "the stream ended without a finish_reason or [DONE]")


async def ndjson_chunks(
    response: httpx.Response, ctx: ErrorContext
) -> AsyncGenerator[ChatChunk, None]:
    """Normalised chunks from Ollama's native NDJSON stream."""
    import httpx

    parser = NDJSONParser()
    tools = OllamaToolIndex()
    done = False

    def convert(obj: Any) -> ChatChunk | None:
        if not isinstance(obj, dict):
            raise _bad(ctx, f"a line that is not a JSON object: {obj!r:.200}")
        if "error" in obj:
            error = error_from_payload(ctx, obj)
            if error is not None:
                raise error
        return ollama_line(obj, tools)

    try:
        async for raw in response.aiter_bytes():
            try:
                lines = parser.feed(raw)
            except ValueError as exc:
                raise _bad(ctx, str(exc)) from None
            for obj in lines:
                chunk = convert(obj)
                if chunk is not None:
                    done = done or chunk.finish_reason is not None
                    yield chunk
                if done:
                    return
    except httpx.HTTPError as exc:
        raise error_from_transport(ctx, exc, streaming=True) from None
    try:
        rest = parser.close()
    except ValueError:
        raise _truncated(ctx, "the last line is incomplete") from None
    for obj in rest:
        chunk = convert(obj)
        if chunk is not None:
            done = done or chunk.finish_reason is not None
            yield chunk
    if not done:
        raise _truncated(ctx, 'the stream ended before the line with "done": true')


async def whole_response(response: httpx.Response, ctx: ErrorContext, wire: Wire) -> ChatChunk:
    """The single chunk holding a non-streamed answer."""
    import httpx

    try:
        raw = await response.aread()
    except httpx.HTTPError as exc:
        raise error_from_transport(ctx, exc, streaming=True) from None
    try:
        obj = _decode(raw)
    except msgspec.DecodeError:
        raise _bad(ctx, f"a body that is not JSON: {raw[:200]!r}") from None
    if not isinstance(obj, dict):
        raise _bad(ctx, "a body that is not a JSON object")
    error = error_from_payload(ctx, obj) if "error" in obj or "detail" in obj else None
    if error is not None:
        raise error
    chunk = ollama_line(obj, OllamaToolIndex()) if wire == "ollama" else openai_chunk(obj)
    if chunk is None or chunk.finish_reason is None:
        if chunk is None:
            raise _bad(ctx, "an answer with no choices")
        chunk.finish_reason = "stop"
    return chunk
