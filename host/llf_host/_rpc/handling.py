"""What method handlers use besides their context: param errors and plugin limits.

``InvalidParams`` answers -32602 for a rule a params type cannot express;
``plugin_slot`` bounds concurrent calls into one plugin (``[host]
plugin_concurrency``), so a slow plugin queues its own requests, not everyone's.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING
from typing import Any
from typing import Final
from typing import final

if TYPE_CHECKING:
    from .._host import Host

__all__ = ["LIMITER_SERVICE", "InvalidParams", "PluginLimiter", "plugin_slot"]

#: Service name under which the server registers its :class:`PluginLimiter`.
LIMITER_SERVICE: Final = "plugin_limiter"


class InvalidParams(Exception):
    """Raise from a handler to answer -32602 for a param its type cannot express.

    :param field: the param path (``messages[0].role``).
    :param reason: what is wrong with it.
    :param hint: what to send instead.
    """

    def __init__(self, field: str, reason: str, hint: str | None = None) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason
        self.hint = hint


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
