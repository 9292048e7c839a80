"""How many calls may run in one plugin at once (``[host] plugin_concurrency``).

The server registers a :class:`PluginLimiter` as a host service; code that calls
into a plugin on behalf of a request wraps the call in :func:`plugin_slot`, so a
slow plugin queues its own requests, not everyone's. Outside a server (no
limiter registered) the slot does nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING
from typing import Any
from typing import Final
from typing import final

if TYPE_CHECKING:
    from ._host import Host

__all__ = ["LIMITER_SERVICE", "PluginLimiter", "plugin_slot"]

#: Service name under which the server registers its :class:`PluginLimiter`.
LIMITER_SERVICE: Final = "plugin_limiter"


@final
class PluginLimiter:
    """At most ``size`` concurrent calls into each plugin; others wait their turn."""

    def __init__(self, size: int) -> None:
        self.size = max(1, size)
        self._slots: dict[str, asyncio.Semaphore] = {}

    def slot(self, plugin: str) -> asyncio.Semaphore:
        """The semaphore of ``plugin`` (``async with limiter.slot(name): ...``)."""
        sem = self._slots.get(plugin)
        if sem is None:
            sem = self._slots[plugin] = asyncio.Semaphore(self.size)
        return sem

    def busy(self) -> dict[str, int]:
        """Calls running now, per plugin (plugins with none omitted)."""
        out: dict[str, int] = {}
        for name, sem in self._slots.items():
            used = self.size - sem._value
            if used:
                out[name] = used
        return out


def plugin_slot(host: Host, plugin: str) -> contextlib.AbstractAsyncContextManager[Any]:
    """``async with plugin_slot(ctx.host, plugin):`` around calls into plugin code.

    Uses the server's per-plugin limit (``[host] plugin_concurrency``); outside a
    server (no limiter registered) it does nothing.
    """
    limiter = host.services.get(LIMITER_SERVICE)
    if isinstance(limiter, PluginLimiter):
        return limiter.slot(plugin)
    return contextlib.nullcontext()
