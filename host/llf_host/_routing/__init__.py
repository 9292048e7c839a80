"""Routing policies, shared budgets, prices, rate limits and usage metrics.

One module per job: :mod:`.policy` (rules), :mod:`.fallback` (which errors fall
back, cooldowns, the route report), :mod:`.budget` (budgets and the contextvar),
:mod:`.prices` (the price table), :mod:`.ratelimit` (token buckets, concurrency,
the priority queue), :mod:`.clock` (real and virtual time), :mod:`.catalog`
(model capabilities), :mod:`.metrics` (usage records and summaries),
:mod:`.planning` (rule and candidates), :mod:`.attempt` (one try of one model),
:mod:`.compare` (several models at once) and :mod:`.service` (the router host
service). User docs: docs/routing.md.

Only the light modules load with ``import llf_host``; the router itself
(:mod:`.service`) loads on the first :func:`get_router` call.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .budget import Budget
from .budget import BudgetTracker
from .budget import current_budget
from .budget import use_budget
from .policy import RouteRule
from .policy import RoutingPolicy

if TYPE_CHECKING:
    from .._host import Host
    from .service import Router

__all__ = [
    "Budget",
    "BudgetTracker",
    "RouteRule",
    "RoutingPolicy",
    "current_budget",
    "get_router",
    "use_budget",
]


def get_router(host: Host) -> Router:
    """The host's router (``host.services["router"]``), created on first use.

    ``await get_router(host).chat(request, task=..., budget=...)`` routes one
    request; see docs/routing.md.
    """
    from .service import get_router as _get_router

    return _get_router(host)
