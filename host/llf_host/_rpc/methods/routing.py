"""``budget/*``, ``routing/*``, ``chat/compare`` and ``stats/get``.

Budgets live in the host-wide router service, not in a connection: a budget id
made by one client can be passed (``chat/complete {budget: id}``) by any other
client of the same host, and every spend lands on the same budget.
"""

from __future__ import annotations

from typing import Annotated
from typing import Any

import msgspec

from ..._errors import ConfigError
from ..._routing.metrics import parse_since
from ..._routing.policy import RoutingPolicy
from ..._routing.service import get_router
from ..._types import ChatOptions
from ..._types import Message
from ..._types import ToolDefinition
from ..dispatcher import InvalidParams
from ..registry import NoParams
from ..registry import RequestContext
from ..registry import rpc_method

__all__ = [
    "BudgetCreateParams",
    "BudgetIdParams",
    "CompareParams",
    "RoutingSetParams",
    "StatsParams",
]

_MAX_COMPARE = 16

NonNegativeInt = Annotated[int, msgspec.Meta(ge=0)]
NonNegativeFloat = Annotated[float, msgspec.Meta(ge=0)]
ModelList = Annotated[list[str], msgspec.Meta(min_length=1, max_length=_MAX_COMPARE)]


class BudgetCreateParams(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """``budget/create`` params; a child (``parent``) is capped at what its parent has left."""

    limit_tokens: NonNegativeInt | None = None
    limit_cost: NonNegativeFloat | None = None
    parent: str | None = None
    label: str = ""


class BudgetIdParams(msgspec.Struct, forbid_unknown_fields=True):
    """Params naming one budget."""

    id: str


class RoutingSetParams(msgspec.Struct, forbid_unknown_fields=True):
    """``routing/set`` params: the whole policy, in the ``[routing]`` shape."""

    policy: dict[str, Any]


class CompareParams(msgspec.Struct, forbid_unknown_fields=True):
    """``chat/compare`` params: one conversation sent to several models."""

    models: ModelList
    messages: list[Message]
    options: ChatOptions = msgspec.field(default_factory=ChatOptions)
    tools: list[ToolDefinition] = msgspec.field(default_factory=list)
    budget: str | None = None


class StatsParams(msgspec.Struct, forbid_unknown_fields=True):
    """``stats/get`` params: a window like ``"1h"``/``"30m"`` or seconds; all when absent."""

    since: str | float | None = None


@rpc_method("budget/create", params=BudgetCreateParams)
async def budget_create(ctx: RequestContext, params: BudgetCreateParams) -> dict[str, Any]:
    """Create a budget (a child of ``parent`` when given); returns its state with its ``id``."""
    router = get_router(ctx.host)
    budget = router.budgets.create(
        limit_tokens=params.limit_tokens,
        limit_cost=params.limit_cost,
        parent=params.parent,
        label=params.label,
    )
    return budget.to_dict()


@rpc_method("budget/get", params=BudgetIdParams)
async def budget_get(ctx: RequestContext, params: BudgetIdParams) -> dict[str, Any]:
    """A budget's limits, spend, reservations, what is left and its children."""
    return get_router(ctx.host).budgets.get(params.id).to_dict()


@rpc_method("budget/list")
async def budget_list(ctx: RequestContext, params: NoParams) -> dict[str, Any]:
    """Every open budget."""
    return {"budgets": [b.to_dict() for b in get_router(ctx.host).budgets.list()]}


@rpc_method("budget/close", params=BudgetIdParams)
async def budget_close(ctx: RequestContext, params: BudgetIdParams) -> dict[str, Any]:
    """Forget a budget and its children (calls holding them finish); returns the closed ids."""
    return {"closed": get_router(ctx.host).budgets.close(params.id)}


@rpc_method("routing/get")
async def routing_get(ctx: RequestContext, params: NoParams) -> dict[str, Any]:
    """The routing policy, the endpoint limiters and the active cooldowns."""
    return get_router(ctx.host).state()


@rpc_method("routing/set", params=RoutingSetParams)
async def routing_set(ctx: RequestContext, params: RoutingSetParams) -> dict[str, Any]:
    """Replace the routing policy (validated first; an invalid one changes nothing)."""
    try:
        policy = RoutingPolicy.from_dict(params.policy, where="routing/set policy")
    except ConfigError as exc:
        raise InvalidParams("policy", exc.message, hint=exc.hint) from None
    router = get_router(ctx.host)
    router.set_policy(policy, via="protocol")
    return {"policy": policy.to_dict()}


@rpc_method("chat/compare", params=CompareParams)
async def chat_compare(ctx: RequestContext, params: CompareParams) -> dict[str, Any]:
    """Send one prompt to several models at once; every answer (or error) with timings."""
    router = get_router(ctx.host)
    return await router.compare(
        list(dict.fromkeys(params.models)),
        params.messages,
        options=params.options,
        tools=params.tools,
        budget=params.budget,
    )


@rpc_method("stats/get", params=StatsParams)
async def stats_get(ctx: RequestContext, params: StatsParams) -> dict[str, Any]:
    """Requests, tokens, cost and latency percentiles per model and per route."""
    try:
        since = parse_since(params.since)
    except ValueError as exc:
        raise InvalidParams(
            "since", str(exc), hint="use e.g. 90s, 30m, 1h, 2d or seconds"
        ) from None
    return get_router(ctx.host).stats(since)
