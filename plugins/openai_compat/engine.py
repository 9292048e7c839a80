"""One provider prefix's servers: which endpoints, what they serve, who answers.

An :class:`Engine` holds the :class:`Endpoint` objects of one prefix: the
configured hosts, or (with auto-detection on and nothing configured) the
loopback servers whose fingerprint names this engine. It caches the model
catalog for ``discovery_ttl_s`` seconds, refreshes a stale one in the
background while answering from it, and picks the endpoint for a request after
checking that the model is available there, so a missing model fails before
anything is sent, with the fix in the message.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

import msgspec

from llf_host import AuthenticationError
from llf_host import HealthStatus
from llf_host import ModelInfo
from llf_host import ModelNotFoundError
from llf_host import ProviderError
from llf_host import ProviderUnavailableError

from .discovery import Listing
from .discovery import RawModel
from .discovery import list_models
from .discovery import same_model
from .endpoint import Endpoint
from .endpoint import Shared
from .health import probe_endpoint
from .profiles import PREFIX_FOR_KIND
from .profiles import EngineKind
from .settings import Address
from .settings import EngineConfig

__all__ = ["Catalog", "Engine"]

log = logging.getLogger("llf.plugin.openai_compat")

#: A failed listing is retried sooner than a good one expires.
_ERROR_TTL_S = 2.0


class Catalog(msgspec.Struct):
    """What each endpoint answered when asked for its models."""

    endpoints: list[Endpoint]
    results: dict[str, Listing | ProviderError]
    fetched_at: float

    def listing(self, endpoint: Endpoint) -> Listing | ProviderError | None:
        """The answer of ``endpoint``."""
        return self.results.get(endpoint.address.display)

    @property
    def all_failed(self) -> bool:
        """No endpoint produced a listing."""
        return not any(isinstance(r, Listing) for r in self.results.values())


class Engine:
    """The endpoints, catalog and routing of one provider prefix."""

    def __init__(self, config: EngineConfig, shared: Shared) -> None:
        self.config = config
        self.shared = shared
        self.prefix = config.prefix
        self._endpoints: dict[str, Endpoint] = {}
        self._catalog: Catalog | None = None
        self._catalog_lock = asyncio.Lock()
        self._background: asyncio.Task[None] | None = None
        #: Called when every endpoint is down (managed engines hook in here).
        self.on_all_down: Callable[[Engine], Any] | None = None

    @property
    def uses_detection(self) -> bool:
        """True when endpoints come from auto-detection rather than configuration."""
        return (
            self.shared.settings.autodetect
            and not self.config.explicit
            and not self.config.custom
            and self.config.kind in PREFIX_FOR_KIND
        )

    def _endpoint(self, address: Address, kind: EngineKind, *, identified: bool) -> Endpoint:
        endpoint = self._endpoints.get(address.display)
        if endpoint is None:
            endpoint = Endpoint(self, address, kind, identified=identified)
            self._endpoints[address.display] = endpoint
        elif identified and endpoint.kind != kind:
            endpoint.kind = kind
            endpoint.identified = True
        return endpoint

    async def endpoints(self, *, refresh: bool = False) -> list[Endpoint]:
        """The endpoints serving this prefix now (may probe: never call at start-up)."""
        if not self.uses_detection:
            found = [
                self._endpoint(a, self.config.kind, identified=not self._ambiguous)
                for a in self.config.addresses
            ]
            if self._ambiguous:
                await self._identify([e for e in found if not e.identified], refresh=refresh)
            return found
        prints = await self.shared.detector.scan(refresh=refresh)
        mine = [
            self._endpoint(fp.address, fp.kind, identified=True)
            for fp in prints
            if fp.kind is not None and PREFIX_FOR_KIND.get(fp.kind) == self.prefix
        ]
        if mine:
            return mine
        taken = {fp.address.display for fp in prints if fp.up}
        defaults = [a for a in self.config.addresses if a.display not in taken]
        return [
            self._endpoint(a, self.config.kind, identified=False)
            for a in defaults or self.config.addresses
        ]

    @property
    def _ambiguous(self) -> bool:
        # llamacpp/ serves llama-server and llama-cpp-python's server: ask which one.
        return self.prefix == "llamacpp" and not self.config.custom

    async def _identify(self, endpoints: list[Endpoint], *, refresh: bool) -> None:
        if not endpoints:
            return
        prints = await self.shared.detector.scan(
            tuple(e.address for e in endpoints), refresh=refresh
        )
        for endpoint, fp in zip(endpoints, prints, strict=True):
            if fp.kind is not None and fp.kind != "generic":
                endpoint.kind = fp.kind
                endpoint.identified = True
                endpoint.stream_usage = (
                    self.config.settings.stream_usage
                    if self.config.settings.stream_usage is not None
                    else endpoint.profile.stream_usage
                )

    # -- catalog --------------------------------------------------------------------
    async def _fetch(self, endpoint: Endpoint) -> Listing | ProviderError:
        static = self.config.settings.models
        if static:
            return Listing([RawModel(name=name) for name in static])
        try:
            return await list_models(endpoint.client, endpoint.ctx(), endpoint.kind)
        except ProviderError as exc:
            return exc

    async def _load(self, *, refresh: bool) -> Catalog:
        endpoints = await self.endpoints(refresh=refresh)
        skip = [e for e in endpoints if e.profile.poll_disturbs_streams and e.inflight]
        results = await asyncio.gather(*(self._fetch(e) for e in endpoints if e not in skip))
        by_address: dict[str, Listing | ProviderError] = {
            e.address.display: r
            for e, r in zip([e for e in endpoints if e not in skip], results, strict=True)
        }
        if self._catalog is not None:
            for endpoint in skip:  # keep what we knew rather than disturb a stream
                previous = self._catalog.listing(endpoint)
                if previous is not None:
                    by_address[endpoint.address.display] = previous
        catalog = Catalog(endpoints, by_address, time.monotonic())
        self._catalog = catalog
        return catalog

    def _fresh(self, catalog: Catalog) -> bool:
        ttl = _ERROR_TTL_S if catalog.all_failed else self.shared.settings.discovery_ttl_s
        return time.monotonic() - catalog.fetched_at < ttl

    async def catalog(self, *, refresh: bool = False) -> Catalog:
        """The model catalog: cached, refreshed in the background when stale."""
        current = self._catalog
        if current is not None and not refresh:
            if not self._fresh(current) and (self._background is None or self._background.done()):
                self._background = asyncio.create_task(self._refresh_quietly())
            return current
        async with self._catalog_lock:
            if self._catalog is not None and self._catalog is not current and not refresh:
                return self._catalog
            return await self._load(refresh=refresh)

    async def _refresh_quietly(self) -> None:
        try:
            async with self._catalog_lock:
                await self._load(refresh=False)
        except Exception:
            log.exception("%s: background model refresh failed", self.prefix)

    async def refresh(self) -> list[ModelInfo]:
        """Re-detect servers and re-list models now (``models/refresh``)."""
        await self.catalog(refresh=True)
        return await self.models()

    async def models(self) -> list[ModelInfo]:
        """Every model of every endpoint, merged by name (first endpoint wins).

        When no endpoint could list its models, a configured engine raises why
        (so ``models list`` shows it); an engine nobody configured and nobody
        runs just has no models.
        """
        catalog = await self.catalog()
        if catalog.all_failed and self.config.configured:
            failures = [r for r in catalog.results.values() if isinstance(r, ProviderError)]
            if failures:
                raise _copy(failures[0])
        settings = self.config.settings
        merged: dict[str, ModelInfo] = {}
        for endpoint in catalog.endpoints:
            listing = catalog.listing(endpoint)
            if not isinstance(listing, Listing):
                continue
            for raw in listing.models:
                existing = merged.get(raw.name)
                if existing is not None:
                    existing.details.setdefault("endpoints", [existing.details["endpoint"]])
                    existing.details["endpoints"].append(endpoint.address.display)
                    continue
                merged[raw.name] = ModelInfo(
                    id=f"{self.prefix}/{raw.name}",
                    name=raw.name,
                    provider=self.prefix,
                    context_length=raw.context_length or settings.context_length,
                    local=endpoint.profile.local,
                    loaded=raw.loaded,
                    size_bytes=raw.size_bytes,
                    capabilities=sorted({*raw.capabilities, *settings.capabilities}),
                    description=f"{endpoint.profile.label} at {endpoint.address.display}",
                    details={
                        "endpoint": endpoint.address.display,
                        "engine": endpoint.kind,
                        **raw.details,
                    },
                )
        return list(merged.values())

    # -- routing --------------------------------------------------------------------
    def _find(self, catalog: Catalog, model: str) -> Endpoint | None:
        reachable: list[Endpoint] = []
        for endpoint in catalog.endpoints:
            listing = catalog.listing(endpoint)
            if isinstance(listing, ProviderUnavailableError | AuthenticationError):
                continue
            if listing is None and not endpoint.inflight:
                continue
            reachable.append(endpoint)
            if isinstance(listing, Listing) and any(
                same_model(endpoint.kind, model, m.name) for m in listing.models
            ):
                return endpoint
        for endpoint in reachable:
            listing = catalog.listing(endpoint)
            if (
                endpoint.profile.any_model
                or not isinstance(listing, Listing)  # answers, but cannot list (loading...)
                or not listing.supported
                or (not listing.models and not self.config.settings.models)
            ):
                return endpoint
        return None

    async def route(self, model: str) -> Endpoint:
        """The endpoint that will serve ``model``, checked before anything is sent."""
        catalog = await self.catalog()
        found = self._find(catalog, model)
        if found is not None:
            return found
        catalog = await self.catalog(refresh=True)  # just pulled? just started?
        found = self._find(catalog, model)
        if found is not None:
            return found
        if self.on_all_down is not None and self._all_down(catalog):
            await self.on_all_down(self)
            catalog = await self.catalog(refresh=True)
            found = self._find(catalog, model)
            if found is not None:
                return found
        raise self._not_available(catalog, model)

    def _all_down(self, catalog: Catalog) -> bool:
        return all(
            isinstance(catalog.listing(e), ProviderUnavailableError) for e in catalog.endpoints
        )

    def _not_available(self, catalog: Catalog, model: str) -> ProviderError:
        errors = [catalog.listing(e) for e in catalog.endpoints]
        failures = [e for e in errors if isinstance(e, ProviderError)]
        listed = [
            (endpoint, listing)
            for endpoint, listing in zip(catalog.endpoints, errors, strict=True)
            if isinstance(listing, Listing)
        ]
        if not listed:
            auth = [e for e in failures if isinstance(e, AuthenticationError)]
            first = auth[0] if auth else (failures[0] if failures else None)
            if first is None:
                return ProviderUnavailableError(
                    f"no server is configured for `{self.prefix}`",
                    hint=f"set hosts under [plugins.openai_compat.engines.{self.prefix}]",
                    provider=self.prefix,
                )
            error = _copy(first, model=model)
            if len(catalog.endpoints) > 1:
                error.data["tried"] = [e.address.display for e in catalog.endpoints]
            return error
        endpoint = listed[0][0]
        ctx = endpoint.ctx(model)
        names = [m.name for _, lst in listed for m in lst.models]
        shown = ", ".join(f"`{n}`" for n in names[:8]) + (" ..." if len(names) > 8 else "")
        profile = endpoint.profile
        hint = (
            profile.get_model_hint.format(model=model)
            if profile.get_model_hint
            else (f"use one of the models it serves (`llf-host models list {self.prefix}`)")
        )
        if profile.kind == "ollama":
            message = (
                f"model `{model}` is not pulled on Ollama at {endpoint.address.display} — "
                f"run `ollama pull {model}`"
            )
        else:
            message = f"{ctx.where} has no model `{model}` (it serves: {shown or 'none'})"
        return ModelNotFoundError(message, hint=hint, **ctx.data(available=names[:50]))

    # -- health ---------------------------------------------------------------------
    async def health(self) -> HealthStatus:
        """One state for the prefix: ready if any endpoint is, with every endpoint's detail."""
        endpoints = await self.endpoints()
        statuses = await asyncio.gather(*(probe_endpoint(e) for e in endpoints))
        per_endpoint = [
            {
                "endpoint": e.address.display,
                "engine": e.kind,
                "state": s.state,
                "message": s.message,
            }
            for e, s in zip(endpoints, statuses, strict=True)
        ]
        for state in ("ready", "loading", "degraded", "locked", "down"):
            chosen = [s for s in statuses if s.state == state]
            if chosen:
                best = chosen[0]
                details = dict(best.details)
                details["endpoints"] = per_endpoint
                details["detected"] = self.uses_detection
                return HealthStatus(state=best.state, message=best.message, details=details)
        return HealthStatus(
            state="down",
            message=f"no server is configured for `{self.prefix}`",
            details={"endpoints": per_endpoint},
        )

    async def aclose(self) -> None:
        """Stop background work and close every endpoint's client."""
        task, self._background = self._background, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for endpoint in list(self._endpoints.values()):
            endpoint.closing = True
            if not endpoint.inflight:
                await endpoint.client.aclose()


def _copy(error: ProviderError, **extra: Any) -> ProviderError:
    """A fresh instance of a cached error (raising one object twice grows its traceback)."""
    return type(error)(error.message, hint=error.hint, **{**error.data, **extra})
