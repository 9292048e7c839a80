"""Choosing the rule and its candidates for one request, and why a candidate is skipped.

A request that names a model and gives neither a task nor a rule name goes
straight to that model (the ``direct`` route). Otherwise the policy decides:
the one passed in, else the one a plugin supplies through ``llf_route``, else
the configured one. A rule's candidate is skipped (and the skip reported in
``route.tried``) when it is cooling down, or does not fit the rule's filters or
the request's needs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec

from .._errors import NotAvailableError
from .._types import ChatRequest
from .policy import RouteRule
from .policy import RoutingPolicy
from .route_hook import policy_from_plugins

if TYPE_CHECKING:
    from .._host import Host
    from .service import Router

__all__ = ["Plan", "Skip", "plan_route", "skip_reason"]

#: (kind: "cooldown" | "filter", why, seconds until it may be tried again)
Skip = tuple[str, str, float | None]


class Plan(msgspec.Struct):
    """The rule to follow and the models to try, in order."""

    rule: RouteRule
    candidates: list[str]
    direct: bool


def _direct(model: str) -> Plan:
    return Plan(RouteRule(name="direct", prefer=[model], fallback_on=[]), [model], True)


async def plan_route(
    host: Host,
    request: ChatRequest,
    *,
    policy: RoutingPolicy,
    explicit: bool,
    task: str | None,
    route: str | None,
    prompt_tokens: int,
    streaming: bool,
) -> Plan:
    """The plan for ``request``; ``explicit`` means ``policy`` was passed by the caller."""
    model = request.model_id or request.model
    if route is None and task is None and model:
        return _direct(model)
    active = policy
    if not explicit:
        active = await policy_from_plugins(host, request, task, policy) or policy
    if route is not None:
        rule = active.rule(route)
        if rule is None:
            raise NotAvailableError(
                f"no routing rule named {route!r}",
                hint=f"rules: {', '.join(r.name for r in active.rules) or 'none'}; see routing/get",
                rule=route,
            )
    else:
        rule = active.select(
            task, has_tools=bool(request.tools), streaming=streaming, prompt_tokens=prompt_tokens
        )
    if rule is None:
        if model:
            return _direct(model)
        raise NotAvailableError(
            f"no routing rule serves task {task!r} and the request names no model"
            if task is not None
            else "the request names no model, and the policy has no default_rule",
            hint="pass a model id, or add a [[routing.rules]] entry for this task "
            "(or set [routing] default_rule)",
            task=task,
        )
    return Plan(rule, rule.candidates(), False)


async def skip_reason(
    router: Router, model: str, rule: RouteRule, request: ChatRequest, prompt_tokens: int
) -> Skip | None:
    """Why a rule's candidate is not tried, or None when it should be."""
    cooling = router.cooldowns.remaining(model)
    if cooling is not None:
        left, reason = cooling
        return ("cooldown", f"cooling down after {reason} ({left:.1f} s left)", left)
    info = await router.catalog.info(router.host.registry, model)
    local = info.local if info is not None else None
    if rule.local_only and local is not True:
        return ("filter", "not a local model" if info else "not listed as local", None)
    needs = set(rule.requires)
    if request.tools:
        needs.add("tools")
    if info is not None and info.capabilities:
        missing = sorted(needs - set(info.capabilities))
        if missing:
            return ("filter", f"lacks {', '.join(missing)}", None)
    min_context = max(rule.min_context or 0, prompt_tokens + (request.options.max_tokens or 0))
    context = info.context_length if info is not None else None
    if context is not None and context < min_context:
        return ("filter", f"context window {context} < {min_context} tokens needed", None)
    if rule.max_cost_per_1k is not None:
        price = router.prices.lookup(model, local=local).price
        if price is None:
            return ("filter", "price unknown (rule has max_cost_per_1k)", None)
        if price.max_per_1k > rule.max_cost_per_1k:
            return (
                "filter",
                f"costs {price.max_per_1k:g}/1k > max_cost_per_1k {rule.max_cost_per_1k:g}",
                None,
            )
    return None
