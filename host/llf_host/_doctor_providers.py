"""The providers section of ``llf-host doctor``: every provider's health, with fixes.

Each provider's ``health()`` is asked concurrently, under its plugin's guard and
a time limit; a provider that fails or hangs is reported, never fatal. Engines
that are simply not running are normal (most users run one or two), so the
section warns only when no provider is ready or one refuses us.
"""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec

from ._errors import LLMError
from ._guard import call_guarded
from ._types import HealthStatus

__all__ = ["HEALTH_TIMEOUT_S", "doctor_section", "provider_health"]

#: Seconds one provider may take to report its health.
HEALTH_TIMEOUT_S = 5.0

_MARKS = {"ready": "ok", "loading": "..", "down": "--", "degraded": "!!", "locked": "!!"}


async def _one(plugin: str, key: str, provider: Any, timeout: float) -> HealthStatus:
    try:
        status = await asyncio.wait_for(
            call_guarded(plugin, f"{type(provider).__name__}.health()", provider.health), timeout
        )
    except TimeoutError:
        return HealthStatus(
            state="unknown", message=f"{key}: no health answer within {timeout:g} s"
        )
    except LLMError as exc:
        return HealthStatus(state="unknown", message=exc.message, details={"hint": exc.hint})
    if not isinstance(status, HealthStatus):
        return HealthStatus(state="unknown", message=f"{key}: health() did not return HealthStatus")
    return status


async def provider_health(
    host: Any, *, timeout: float = HEALTH_TIMEOUT_S
) -> dict[str, HealthStatus]:
    """``{prefix: HealthStatus}`` for every loaded provider, asked concurrently."""
    entries = sorted(host.registry.providers.items())
    found = await asyncio.gather(
        *(_one(entry.plugin, key, entry.obj, timeout) for key, entry in entries)
    )
    return {key: status for (key, _entry), status in zip(entries, found, strict=True)}


async def doctor_section(host: Any) -> dict[str, Any]:
    """The providers section of ``llf-host doctor``: a title, a status, lines and data."""
    statuses = await provider_health(host)
    lines: list[str] = []
    for key, status in statuses.items():
        lines.append(f"[{_MARKS.get(status.state, '??')}] {key}/: {status.message or status.state}")
        hint = status.details.get("hint")
        if status.state != "ready" and hint:
            lines.append(f"     fix: {hint}")
    states = {s.state for s in statuses.values()}
    if not statuses:
        status_word, lines = "warning", ["no provider is loaded"]
    elif states & {"degraded", "locked"} or "ready" not in states:
        status_word = "warning"
    else:
        status_word = "ok"
    return {
        "title": "Providers",
        "status": status_word,
        "lines": lines,
        "data": {key: msgspec.to_builtins(s) for key, s in statuses.items()},
    }
