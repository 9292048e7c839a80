"""The providers: one per prefix, each a thin face over an :class:`~.engine.Engine`.

``chat`` checks the model is available (before sending anything), builds the
body for the endpoint's wire format, sends it with retries before the first
byte, and yields normalised chunks from the SSE or NDJSON stream. A request
whose ``metadata["stream"]`` is ``False`` (or an endpoint configured with
``stream = false``) is sent non-streamed and yields one chunk with everything.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

import msgspec

from llf_host import ChatChunk
from llf_host import ChatRequest
from llf_host import HealthStatus
from llf_host import ModelInfo
from llf_host import Provider
from llf_host import ProviderError
from llf_host import ProviderResponseError

from .endpoint import Endpoint
from .engine import Engine
from .payloads import ollama_body
from .payloads import openai_body
from .pull import PullProgress
from .pull import pull_model
from .streams import ndjson_chunks
from .streams import sse_chunks
from .streams import whole_response
from .transport import RetryPolicy

__all__ = ["HTTPProvider", "OllamaProvider"]

log = logging.getLogger("llf.plugin.openai_compat")


def _rejects_stream_options(error: ProviderError) -> bool:
    text = str(error.data.get("server_message", error.message)).lower()
    return error.data.get("status") in {400, 422} and "stream_options" in text


class HTTPProvider(Provider):
    """Models served over HTTP by the engine behind one prefix."""

    def __init__(self, engine: Engine, *, prefix: str | None = None, description: str = "") -> None:
        self.engine = engine
        self.prefix = prefix or engine.prefix
        self.description = description or engine.config.settings.description
        settings = engine.config.settings
        self.policy = RetryPolicy(
            retries=settings.retries
            if settings.retries is not None
            else engine.shared.settings.retries
        )

    async def list_models(self) -> list[ModelInfo]:
        """The models every endpoint of this prefix serves (cached; see ``refresh``)."""
        models = await self.engine.models()
        if self.prefix == self.engine.prefix:
            return models
        return [
            msgspec.structs.replace(m, id=f"{self.prefix}/{m.name}", provider=self.prefix)
            for m in models
        ]

    async def refresh(self) -> list[ModelInfo]:
        """Re-detect servers and re-list their models now (``models/refresh``)."""
        await self.engine.refresh()
        return await self.list_models()

    async def health(self) -> HealthStatus:
        """down / loading / ready (or degraded), with what to do about it."""
        return await self.engine.health()

    def _stream_wanted(self, request: ChatRequest) -> bool:
        return request.metadata.get("stream") is not False and self.engine.config.settings.stream

    def _body(self, endpoint: Endpoint, request: ChatRequest, stream: bool) -> tuple[str, bytes]:
        client = endpoint.client
        if endpoint.profile.wire == "ollama":
            return client.url("/api/chat", native=True), ollama_body(request, stream=stream)
        body = openai_body(
            request,
            stream=stream,
            stream_usage=endpoint.stream_usage,
            developer_role=endpoint.kind == "openai",
        )
        return client.url("/chat/completions"), body

    async def chat(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        """Stream the answer of the endpoint serving ``request.model``."""
        endpoint = await self.engine.route(request.model)
        ctx = endpoint.ctx(request.model)
        stream = self._stream_wanted(request)
        client = endpoint.client
        for attempt in range(2):
            url, body = self._body(endpoint, request, stream)
            try:
                async with (
                    endpoint.streaming(),
                    client.open(ctx, "POST", url, body=body, policy=self.policy) as response,
                ):
                    if not stream:
                        yield await whole_response(response, ctx, endpoint.profile.wire)
                        return
                    if endpoint.profile.wire == "ollama":
                        chunks = ndjson_chunks(response, ctx)
                    else:
                        chunks = sse_chunks(response, ctx)
                    async with contextlib.aclosing(chunks):
                        async for chunk in chunks:
                            yield chunk
                    return
            except ProviderResponseError as exc:
                if (
                    attempt == 0
                    and stream
                    and endpoint.stream_usage
                    and _rejects_stream_options(exc)
                ):
                    log.warning(
                        "%s at %s rejects stream_options; asking without it from now on",
                        endpoint.profile.label,
                        endpoint.address.display,
                    )
                    endpoint.stream_usage = False
                    continue
                raise

    async def aclose(self) -> None:
        """Close the engine's HTTP clients (shared engines close once)."""
        await self.engine.aclose()


class OllamaProvider(HTTPProvider):
    """Ollama, via its native ``/api/chat``; can also pull models."""

    async def pull(self, model: str) -> AsyncIterator[PullProgress]:
        """Download ``model`` with ``/api/pull``, yielding aggregated progress.

        Raises :class:`~llf_host.ModelNotFoundError` when Ollama's library has no
        such model, :class:`~llf_host.ProviderUnavailableError` when Ollama is down.
        """
        endpoints = await self.engine.endpoints()
        endpoint = endpoints[0]
        for candidate in endpoints:
            if candidate.last_health is not None and candidate.last_health.ok:
                endpoint = candidate
                break
        async for progress in pull_model(endpoint.client, endpoint.ctx(model), model):
            yield progress
        await self.engine.catalog(refresh=True)
