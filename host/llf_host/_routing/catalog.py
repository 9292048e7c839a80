"""What the router knows about a model: capabilities, context window, local or not.

Rules filter candidates by capability, context size and locality, and prices
depend on whether a model is local. That comes from each provider's
``list_models()``, cached per provider for ``ttl_s`` (a reload gives a new
provider object and so a fresh listing). A provider whose listing fails or
times out is treated as "nothing known" for a short while, never as an error:
the chat itself will say what is wrong.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING
from typing import final

from .._errors import LLMError
from .._guard import call_guarded
from .._types import ModelInfo
from .clock import Clock
from .clock import SystemClock

if TYPE_CHECKING:
    from .._contracts import Provider
    from .._registry import Registry

__all__ = ["ModelCatalog"]

log = logging.getLogger("llf.routing")


@final
class ModelCatalog:
    """A per-provider cache of ``list_models()``.

    :param ttl_s: how long a listing is reused.
    :param failure_ttl_s: how long a failed listing is remembered as empty.
    :param timeout_s: the longest a listing may take.
    """

    def __init__(
        self,
        *,
        ttl_s: float = 60.0,
        failure_ttl_s: float = 5.0,
        timeout_s: float = 2.0,
        clock: Clock | None = None,
    ) -> None:
        self.ttl_s = ttl_s
        self.failure_ttl_s = failure_ttl_s
        self.timeout_s = timeout_s
        self._clock = clock or SystemClock()
        self._cache: dict[int, tuple[float, dict[str, ModelInfo]]] = {}
        self._inflight: dict[int, asyncio.Task[dict[str, ModelInfo]]] = {}

    async def _list(self, plugin: str, provider: Provider) -> dict[str, ModelInfo]:
        try:
            models = await asyncio.wait_for(
                call_guarded(
                    plugin, f"{type(provider).__name__}.list_models()", provider.list_models
                ),
                timeout=self.timeout_s,
            )
        except (LLMError, TimeoutError) as exc:
            log.debug("listing models of %s failed: %s", provider.prefix, exc)
            self._cache[id(provider)] = (self._clock.monotonic() + self.failure_ttl_s, {})
            return {}
        found: dict[str, ModelInfo] = {}
        for info in models or []:
            if isinstance(info, ModelInfo):
                found[info.id or f"{provider.prefix}/{info.name}"] = info
        self._cache[id(provider)] = (self._clock.monotonic() + self.ttl_s, found)
        return found

    async def models(self, registry: Registry, prefix: str) -> dict[str, ModelInfo]:
        """Every model the provider ``prefix`` lists (empty when unknown)."""
        entry = registry.providers.get(prefix)
        if entry is None:
            return {}
        key = id(entry.obj)
        cached = self._cache.get(key)
        if cached is not None and cached[0] > self._clock.monotonic():
            return cached[1]
        task = self._inflight.get(key)
        if task is None:
            task = asyncio.get_running_loop().create_task(self._list(entry.plugin, entry.obj))
            self._inflight[key] = task
            task.add_done_callback(lambda _t: self._inflight.pop(key, None))
        return await asyncio.shield(task)

    async def info(self, registry: Registry, model_id: str) -> ModelInfo | None:
        """What the provider says about ``model_id`` (None when it does not list it)."""
        prefix = model_id.partition("/")[0]
        models = await self.models(registry, prefix)
        return models.get(model_id)

    def forget(self) -> None:
        """Drop every cached listing."""
        self._cache.clear()
