"""``plugins/*``: what is loaded, what failed and why."""

from __future__ import annotations

from typing import Any

from ..registry import NoParams
from ..registry import RequestContext
from ..registry import rpc_method

__all__ = ["list_plugins"]


@rpc_method("plugins/list", params=NoParams)
async def list_plugins(ctx: RequestContext, params: NoParams) -> dict[str, Any]:
    """Every plugin the host knows: status, source, contributions, errors, warnings."""
    return {"plugins": [r.summary() for r in ctx.host.plugins.values()]}
