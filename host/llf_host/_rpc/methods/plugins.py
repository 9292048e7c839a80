"""``plugins/*``: what is loaded, what failed and why; reloading by hand."""

from __future__ import annotations

from typing import Any

import msgspec

from ..registry import NoParams
from ..registry import RequestContext
from ..registry import rpc_method

__all__ = ["ReloadParams", "list_plugins", "reload_plugin"]


class ReloadParams(msgspec.Struct, forbid_unknown_fields=True):
    """Params of ``plugins/reload``."""

    name: str


@rpc_method("plugins/list", params=NoParams, inline=True)
async def list_plugins(ctx: RequestContext, params: NoParams) -> dict[str, Any]:
    """Every plugin the host knows: status, source, contributions, errors, warnings."""
    return {"plugins": [r.summary() for r in ctx.host.plugins.values()]}


@rpc_method("plugins/reload", params=ReloadParams)
async def reload_plugin(ctx: RequestContext, params: ReloadParams) -> dict[str, Any]:
    """Reload a drop-in plugin from its files now; the last good version stays on failure.

    The result is the plugin's summary: ``status`` is the state of the version now
    serving, and ``error`` (when present) says why the new files were refused.
    """
    record = await ctx.host.reload_plugin(params.name)
    return record.summary()
