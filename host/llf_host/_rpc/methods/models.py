"""``models/*``: the models every provider can serve.

Each provider is asked on its own, concurrently, inside its plugin's
concurrency slot and a time limit; one that fails or hangs shows up as an entry
in ``errors`` and never fails the whole request.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING
from typing import Any

import msgspec

from ..._errors import LLMError
from ..._errors import ProviderResponseError
from ..._errors import ProviderUnavailableError
from ..._guard import call_guarded
from ..._types import ModelInfo
from ..dispatcher import plugin_slot
from ..registry import RequestContext
from ..registry import rpc_method

if TYPE_CHECKING:
    from ..._contracts import Provider
    from ..._registry import Entry

__all__ = ["ListModelsParams", "list_models", "refresh_models"]


class ListModelsParams(msgspec.Struct, forbid_unknown_fields=True):
    """Params of ``models/list`` and ``models/refresh``."""

    #: Only this provider prefix (default: every provider).
    provider: str | None = None
    #: Seconds each provider may take before it is reported as unavailable.
    timeout_s: float = 10.0


async def _list_one(ctx: RequestContext, entry: Entry[Provider], timeout: float) -> Any:
    try:
        async with plugin_slot(ctx.host, entry.plugin):
            models = await asyncio.wait_for(
                call_guarded(
                    entry.plugin, f"{type(entry.obj).__name__}.list_models()", entry.obj.list_models
                ),
                timeout,
            )
        if not isinstance(models, list) or not all(isinstance(m, ModelInfo) for m in models):
            raise ProviderResponseError(
                f"provider {entry.key!r} list_models() did not return a list of ModelInfo",
                hint="list_models() must return list[llf_host.ModelInfo]",
                provider=entry.key,
                plugin=entry.plugin,
            )
        return models
    except TimeoutError:
        return ProviderUnavailableError(
            f"provider {entry.key!r} did not list its models within {timeout} s",
            hint="check that its engine is running and reachable",
            provider=entry.key,
            plugin=entry.plugin,
        )
    except LLMError as exc:
        exc.data.setdefault("provider", entry.key)
        return exc


async def _list(ctx: RequestContext, params: ListModelsParams) -> dict[str, Any]:
    registry = ctx.host.registry
    entries = [
        e
        for key, e in sorted(registry.providers.items())
        if params.provider is None or key == params.provider
    ]
    results = await asyncio.gather(*(_list_one(ctx, e, params.timeout_s) for e in entries))
    models: list[ModelInfo] = []
    errors: list[dict[str, Any]] = []
    for entry, outcome in zip(entries, results, strict=True):
        if isinstance(outcome, LLMError):
            errors.append(
                {"provider": entry.key, "plugin": entry.plugin, "error": outcome.to_wire()}
            )
        else:
            models.extend(outcome)
    return {"models": models, "errors": errors}


@rpc_method("models/list", params=ListModelsParams)
async def list_models(ctx: RequestContext, params: ListModelsParams) -> dict[str, Any]:
    """Every model of every provider; failing providers are listed under ``errors``."""
    return await _list(ctx, params)


@rpc_method("models/refresh", params=ListModelsParams)
async def refresh_models(ctx: RequestContext, params: ListModelsParams) -> dict[str, Any]:
    """Ask every provider again (providers that cache may re-read their engine)."""
    return await _list(ctx, params)
