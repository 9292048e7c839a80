"""Listing the models of one endpoint, in each engine's own terms.

``GET /v1/models`` answers "what can I ask for" everywhere, but "downloaded" and
"loaded" differ by engine, so the native listings are used where they exist:

- Ollama: ``/api/tags`` (downloaded) plus ``/api/ps`` (loaded now);
- LM Studio: ``/api/v0/models`` (downloaded, with ``state`` loaded/not-loaded,
  context lengths and capabilities), falling back to ``/v1/models``;
- llama-server: ``/v1/models`` (the loaded model; router mode adds ``status``);
- vLLM, mlx_lm.server, llama-cpp-python, OpenAI and the rest: ``/v1/models``.

:func:`list_models` returns :class:`Listing` values; caching and merging
across endpoints is :mod:`.engine`'s job.
"""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec

from llf_host import ProviderResponseError

from .errors import ErrorContext
from .errors import error_from_status
from .profiles import EngineKind
from .transport import EndpointClient
from .transport import Timeouts

__all__ = ["Listing", "RawModel", "list_models", "same_model"]

_LISTING_TIMEOUT = Timeouts(connect=2.0, read=10.0, write=5.0, pool=5.0)


class RawModel(msgspec.Struct):
    """A model as one endpoint reports it."""

    name: str
    loaded: bool | None = None
    size_bytes: int | None = None
    context_length: int | None = None
    capabilities: list[str] = msgspec.field(default_factory=list)
    details: dict[str, Any] = msgspec.field(default_factory=dict)


class Listing(msgspec.Struct):
    """One endpoint's models; ``supported`` is False when it has no model list."""

    models: list[RawModel]
    supported: bool = True


def ollama_name(name: str) -> str:
    """``llama3`` -> ``llama3:latest`` (Ollama's implicit tag); namespaces kept."""
    last = name.rsplit("/", 1)[-1]
    return name if ":" in last else f"{name}:latest"


def same_model(kind: EngineKind, asked: str, listed: str) -> bool:
    """Whether ``asked`` names the model ``listed`` on an engine of ``kind``."""
    if asked == listed:
        return True
    if kind == "ollama":
        return ollama_name(asked) == ollama_name(listed)
    return False


async def _get_json(
    client: EndpointClient, ctx: ErrorContext, url: str, *, missing_ok: bool = False
) -> Any:
    response = await client.get(ctx, url, timeout=_LISTING_TIMEOUT)
    if response.status_code in {404, 405} and missing_ok:
        return None
    if not response.is_success:
        raise error_from_status(ctx, response.status_code, response.content, response.headers)
    try:
        return msgspec.json.decode(response.content)
    except msgspec.DecodeError:
        raise ProviderResponseError(
            f"{ctx.where} answered {url} with something that is not JSON",
            hint="check that the address points at the engine, not at another web server",
            **ctx.data(url=url),
        ) from None


def _items(data: Any) -> list[dict[str, Any]]:
    if isinstance(data, dict):
        for key in ("data", "models"):
            items = data.get(key)
            if isinstance(items, list):
                return [m for m in items if isinstance(m, dict)]
    return []


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


async def _ollama(client: EndpointClient, ctx: ErrorContext) -> Listing:
    tags, ps = await asyncio.gather(
        _get_json(client, ctx, client.url("/api/tags", native=True)),
        _get_json(client, ctx, client.url("/api/ps", native=True), missing_ok=True),
    )
    loaded = {ollama_name(str(m.get("name") or m.get("model"))) for m in _items(ps)}
    models: list[RawModel] = []
    for item in _items(tags):
        name = str(item.get("name") or item.get("model") or "")
        if not name:
            continue
        raw_details = item.get("details")
        details = dict(raw_details) if isinstance(raw_details, dict) else {}
        for key in ("digest", "modified_at"):
            if key in item:
                details[key] = item[key]
        models.append(
            RawModel(
                name=name,
                loaded=ollama_name(name) in loaded,
                size_bytes=_int(item.get("size")),
                details=details,
            )
        )
    return Listing(models)


async def _lm_studio(client: EndpointClient, ctx: ErrorContext) -> Listing:
    data = await _get_json(client, ctx, client.url("/api/v0/models", native=True), missing_ok=True)
    if data is None:
        return await _openai(client, ctx, "lm_studio")
    models: list[RawModel] = []
    for item in _items(data):
        name = str(item.get("id") or "")
        if not name:
            continue
        capabilities = [str(c) for c in item.get("capabilities") or [] if isinstance(c, str)]
        if item.get("type") in {"vlm"}:
            capabilities.append("vision")
        if item.get("type") == "embeddings":
            capabilities.append("embeddings")
        state = item.get("state")
        models.append(
            RawModel(
                name=name,
                loaded=state == "loaded" if isinstance(state, str) else None,
                context_length=_int(item.get("loaded_context_length"))
                or _int(item.get("max_context_length")),
                capabilities=capabilities,
                details={
                    k: item[k]
                    for k in ("type", "publisher", "arch", "compatibility_type", "quantization")
                    if k in item
                },
            )
        )
    return Listing(models)


def _openai_item(kind: EngineKind, item: dict[str, Any]) -> RawModel | None:
    name = str(item.get("id") or "")
    if not name:
        return None
    loaded: bool | None = None
    context: int | None = _int(item.get("max_model_len")) or _int(item.get("context_length"))
    size: int | None = None
    details: dict[str, Any] = {}
    if item.get("owned_by") is not None:
        details["owned_by"] = item["owned_by"]
    status = item.get("status")
    if isinstance(status, dict) and isinstance(status.get("value"), str):
        loaded = status["value"] == "loaded"  # llama-server router mode
        details["status"] = status["value"]
    elif kind in {"llama_server", "llama_cpp_python", "vllm"}:
        loaded = True  # these list only what they serve
    meta = item.get("meta")
    if isinstance(meta, dict):
        context = context or _int(meta.get("n_ctx_train"))
        size = _int(meta.get("size"))
        if _int(meta.get("n_params")) is not None:
            details["parameters"] = meta["n_params"]
    return RawModel(
        name=name, loaded=loaded, size_bytes=size, context_length=context, details=details
    )


async def _openai(client: EndpointClient, ctx: ErrorContext, kind: EngineKind) -> Listing:
    data = await _get_json(client, ctx, client.url("/models"), missing_ok=kind == "generic")
    if data is None:
        return Listing([], supported=False)
    models = [m for m in (_openai_item(kind, item) for item in _items(data)) if m is not None]
    return Listing(models)


async def list_models(client: EndpointClient, ctx: ErrorContext, kind: EngineKind) -> Listing:
    """The models one endpoint of ``kind`` serves (typed errors when it cannot say)."""
    if kind == "ollama":
        return await _ollama(client, ctx)
    if kind == "lm_studio":
        return await _lm_studio(client, ctx)
    return await _openai(client, ctx, kind)
