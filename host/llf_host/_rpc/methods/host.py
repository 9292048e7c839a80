"""``host/*``: health, metrics and a trivial echo (for clients and benchmarks)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING
from typing import Any

import msgspec

from ..._version import HOST_API_VERSION
from ..._version import __version__
from ..registry import NoParams
from ..registry import RequestContext
from ..registry import rpc_method

if TYPE_CHECKING:
    from ..server import ProtocolService

__all__ = ["EchoParams", "echo", "health", "metrics"]


class EchoParams(msgspec.Struct, forbid_unknown_fields=True):
    """Params of ``host/echo``."""

    value: Any = None


def _service(ctx: RequestContext) -> ProtocolService | None:
    service: ProtocolService | None = ctx.host.services.get("protocol")
    return service


@rpc_method("host/echo", params=EchoParams)
async def echo(ctx: RequestContext, params: EchoParams) -> dict[str, Any]:
    """Return ``{"value": value}`` unchanged (round-trip checks and benchmarks)."""
    return {"value": params.value}


@rpc_method("host/health", params=NoParams)
async def health(ctx: RequestContext, params: NoParams) -> dict[str, Any]:
    """Version, uptime, plugin states and requests in flight."""
    host = ctx.host
    states = [r.status for r in host.plugins.values()]
    service = _service(ctx)
    failed = [
        {"name": r.name, "error": r.error.message if r.error else ""}
        for r in host.plugins.values()
        if r.status == "failed"
    ]
    return {
        "version": __version__,
        "hostApiVersion": HOST_API_VERSION,
        "uptime_s": round(time.time() - host.started_at, 3),
        "plugins": {
            "ok": states.count("ok"),
            "failed": states.count("failed"),
            "disabled": states.count("disabled"),
        },
        "failed": failed,
        # This request itself is one of them.
        "in_flight": service.in_flight if service is not None else 0,
        "plugin_calls": service.limiter.busy() if service is not None else {},
    }


@rpc_method("host/metrics", params=NoParams)
async def metrics(ctx: RequestContext, params: NoParams) -> dict[str, Any]:
    """Request counts, errors and latency percentiles per method since start."""
    service = _service(ctx)
    if service is None:
        return {"requests": 0, "errors": 0, "cancelled": 0, "parse_errors": 0, "methods": {}}
    summary = service.metrics.summary()
    summary["in_flight"] = service.in_flight
    return summary
