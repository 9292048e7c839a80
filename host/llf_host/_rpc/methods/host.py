"""``host/*``: health, metrics and a trivial echo (for clients and benchmarks)."""

from __future__ import annotations

import asyncio
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


@rpc_method("host/echo", params=EchoParams, inline=True)
async def echo(ctx: RequestContext, params: EchoParams) -> dict[str, Any]:
    """Return ``{"value": value}`` unchanged (round-trip checks and benchmarks)."""
    return {"value": params.value}


_hardware: dict[str, Any] | None = None


def _probe_system() -> dict[str, Any]:
    """Probe the sandbox layers and the hardware once per process (~0.1 s, blocking)."""
    global _hardware
    if _hardware is None:
        from ..._doctor import sandbox_health
        from ..._hardware import hardware_report

        sandbox_health(None)  # runs and caches the isolation probe
        _hardware = msgspec.to_builtins(hardware_report())
    return _hardware


@rpc_method("host/health", params=NoParams)
async def health(ctx: RequestContext, params: NoParams) -> dict[str, Any]:
    """Version, uptime, plugin states, requests in flight, sandbox layers and hardware."""
    host = ctx.host
    hardware = _hardware if _hardware is not None else await asyncio.to_thread(_probe_system)
    from ..._doctor import sandbox_health

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
        # Other requests: this one runs in a task too and is not counted.
        "in_flight": max(0, service.in_flight - 1) if service is not None else 0,
        "plugin_calls": service.limiter.busy() if service is not None else {},
        "sandbox": sandbox_health(host),
        "hardware": hardware,
    }


@rpc_method("host/metrics", params=NoParams, inline=True)
async def metrics(ctx: RequestContext, params: NoParams) -> dict[str, Any]:
    """Request counts, errors and latency percentiles per method since start."""
    service = _service(ctx)
    if service is None:
        return {"requests": 0, "errors": 0, "cancelled": 0, "parse_errors": 0, "methods": {}}
    summary = service.metrics.summary()
    summary["in_flight"] = service.in_flight
    return summary
