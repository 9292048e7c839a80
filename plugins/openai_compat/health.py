"""Health of one endpoint: down, loading or ready, with a message that says what to do.

Each engine is probed the cheap way it supports (Ollama ``GET /``, llama-server,
vLLM and mlx ``GET /health``, LM Studio and the rest their model list) and the
answer is mapped onto :class:`~llf_host.HealthStatus`:

- ``down``: nothing answers ("Ollama is not running at 127.0.0.1:11434 — start
  it with `ollama serve`"), or vLLM's engine died (503);
- ``loading``: llama-server answers 503 while it loads its model;
- ``ready``: it can serve now;
- ``degraded``: it answers but refuses us (a key is missing or wrong) or errs;
- ``locked``: its key is in a locked key store.

llama-cpp-python's server serialises requests and cuts a running stream short
when another request arrives, so it is not probed while we stream from it: the
last known state is returned instead.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from llf_host import AuthenticationError
from llf_host import HealthStatus
from llf_host import ModelLoadingError
from llf_host import ProviderError
from llf_host import ProviderUnavailableError
from llf_host import RateLimitedError

from .discovery import list_models
from .errors import error_from_status
from .transport import Timeouts

if TYPE_CHECKING:
    from .endpoint import Endpoint

__all__ = ["health_from_error", "probe_endpoint"]

_HEALTH_TIMEOUT = Timeouts(connect=1.0, read=5.0, write=5.0, pool=5.0)


def health_from_error(endpoint: Endpoint, error: ProviderError) -> HealthStatus:
    """The health state an error implies."""
    details = {"endpoint": endpoint.address.display, "engine": endpoint.kind}
    if error.hint and error.hint not in error.message:
        details["hint"] = error.hint
    if isinstance(error, ProviderUnavailableError):
        return HealthStatus(state="down", message=error.message, details=details)
    if isinstance(error, ModelLoadingError):
        return HealthStatus(state="loading", message=error.message, details=details)
    if isinstance(error, AuthenticationError):
        reason = error.data.get("reason")
        if reason == "key_store_locked":
            return HealthStatus(state="locked", message=error.message, details=details)
        if reason == "key_missing":  # not set up yet: cannot serve, nothing is wrong
            return HealthStatus(state="down", message=error.message, details=details)
        return HealthStatus(state="degraded", message=error.message, details=details)
    if isinstance(error, RateLimitedError):
        return HealthStatus(state="degraded", message=error.message, details=details)
    return HealthStatus(state="degraded", message=error.message, details=details)


async def _probe_path(endpoint: Endpoint, path: str) -> HealthStatus:
    ctx = endpoint.ctx()
    client = endpoint.client
    response = await client.get(ctx, client.url(path, native=True), timeout=_HEALTH_TIMEOUT)
    if endpoint.kind == "ollama":
        if response.status_code == 200 and b"Ollama is running" in response.content:
            return _ready(endpoint)
        return HealthStatus(
            state="degraded",
            message=f"something answers at {endpoint.address.display}, but it is not Ollama "
            f"(GET / -> {response.status_code})",
            details={"endpoint": endpoint.address.display, "engine": endpoint.kind},
        )
    if response.is_success:
        return _ready(endpoint)
    raise error_from_status(ctx, response.status_code, response.content, response.headers)


def _ready(endpoint: Endpoint) -> HealthStatus:
    return HealthStatus(
        state="ready",
        message=f"{endpoint.profile.label} is ready at {endpoint.address.display}",
        details={"endpoint": endpoint.address.display, "engine": endpoint.kind},
    )


async def probe_endpoint(endpoint: Endpoint) -> HealthStatus:
    """Probe ``endpoint`` now (or reuse its last state while probing would disturb it)."""
    profile = endpoint.profile
    if profile.poll_disturbs_streams and endpoint.inflight and endpoint.last_health is not None:
        return endpoint.last_health
    try:
        if profile.health_path is not None:
            status = await _probe_path(endpoint, profile.health_path)
        else:
            await list_models(endpoint.client, endpoint.ctx(), endpoint.kind)
            status = _ready(endpoint)
    except ProviderError as exc:
        status = health_from_error(endpoint, exc)
    endpoint.last_health = status
    return status
