"""Asking plugins for a routing policy (the ``llf_route`` hook).

Plugins are asked in load order; the first that returns something other than
``None`` decides. A plugin may return a :class:`RoutingPolicy`, one
:class:`RouteRule` (used for this request whatever its task), a list of model
ids (tried in order, with the default fallback errors) or a dict in the
``[routing]`` shape. A plugin whose hook fails or returns something else is
logged and skipped: the configured policy applies.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING
from typing import Any

from msgspec import structs

from .._errors import LLMError
from .._types import ChatRequest
from .policy import RouteRule
from .policy import RoutingPolicy

if TYPE_CHECKING:
    from .._host import Host

__all__ = ["HOOK", "as_policy", "policy_from_plugins"]

log = logging.getLogger("llf.routing")

HOOK = "llf_route"


def as_policy(value: Any, *, plugin: str) -> RoutingPolicy:
    """Turn what a plugin returned into a policy (``TypeError`` when it cannot)."""
    if isinstance(value, RoutingPolicy):
        return value
    if isinstance(value, RouteRule):
        rule = structs.replace(value, task="*", when=[], min_prompt_tokens=None)
        return RoutingPolicy(rules=[rule], default_rule=rule.name)
    if isinstance(value, list) and value and all(isinstance(m, str) for m in value):
        name = f"plugin:{plugin}"
        return RoutingPolicy(rules=[RouteRule(name=name, prefer=list(value))], default_rule=name)
    if isinstance(value, dict):
        return RoutingPolicy.from_dict(value, where=f"routing policy from plugin {plugin!r}")
    raise TypeError(
        f"llf_route returned {type(value).__name__}; expected a RoutingPolicy, a RouteRule, "
        "a list of model ids, a dict or None"
    )


async def policy_from_plugins(
    host: Host, request: ChatRequest, task: str | None, policy: RoutingPolicy
) -> RoutingPolicy | None:
    """The policy the first plugin implementing ``llf_route`` supplies, if any."""
    for record in list(host.plugins.values()):
        if record.status != "ok" or HOOK not in record.hooks():
            continue
        try:
            value = await host.loader.call_hook(
                record, HOOK, {"request": request, "task": task, "policy": policy}
            )
            if value is None:
                continue
            return as_policy(value, plugin=record.name)
        except (LLMError, TypeError) as exc:
            log.warning("plugin %s: llf_route ignored: %s", record.name, exc)
            record.warnings.append(f"llf_route ignored: {exc}")
            del record.warnings[:-20]
    return None
