"""The router: the host service that picks a model, enforces budgets and limits.

``host.services["router"]`` (made on first use by :func:`get_router`) wraps
:func:`llf_host._chat.stream_chat`::

    router = get_router(host)
    result = await router.chat(request, task="code", budget=my_budget)
    result.route   # {"rule": "code", "served_by": "ollama/qwen", "tried": [...], ...}
    result.cost    # USD, or None when the price is unknown (route["cost"]["state"])

Without a task or rule name, a request that names a model goes straight to it
(the ``direct`` route: budget, limits, backoff, but no fallback). With a task,
the policy's first matching rule decides; a plugin may supply a policy through
the ``llf_route`` hook. Several ``chat`` calls may run at once (``asyncio.gather``);
the budget and the endpoint limiters are shared between them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable
from collections.abc import Callable
from typing import TYPE_CHECKING
from typing import Any
from typing import final

import msgspec

from .._errors import BudgetExceededError
from .._errors import LLMError
from .._errors import QueueFullError
from .._errors import RateLimitedError
from .._plugin_limit import plugin_slot
from .._types import ChatChunk
from .._types import ChatOptions
from .._types import ChatRequest
from .._types import ChatResult
from .._types import Message
from .._types import ToolDefinition
from .attempt import Attempt
from .attempt import plan_budget
from .attempt import route_extra
from .attempt import settle_usage
from .budget import Budget
from .budget import BudgetTracker
from .budget import current_budget
from .budget import use_budget
from .catalog import ModelCatalog
from .clock import Clock
from .clock import SystemClock
from .compare import compare_models
from .estimate import estimate_prompt_tokens
from .fallback import COOLDOWN_ON
from .fallback import CooldownTracker
from .fallback import RouteReport
from .fallback import error_name
from .fallback import matches
from .fallback import nothing_to_try
from .metrics import MetricsLog
from .metrics import UsageRecord
from .metrics import summarize
from .planning import Plan
from .planning import Skip
from .planning import plan_route
from .planning import skip_reason
from .policy import RouteRule
from .policy import RoutingPolicy
from .prices import PriceTable
from .ratelimit import LimiterSet
from .ratelimit import backoff_delay
from .ratelimit import parse_limits

if TYPE_CHECKING:
    from .._host import Host

__all__ = ["ROUTER_SERVICE", "Router", "get_router"]

log = logging.getLogger("llf.routing")

#: The name of the router in ``host.services``.
ROUTER_SERVICE = "router"

ChunkCallback = Callable[[ChatChunk], Awaitable[None] | None]


def get_router(host: Host) -> Router:
    """The host's router, created on first use from the host's config."""
    router = host.services.get(ROUTER_SERVICE)
    if router is None:
        router = Router(host)
        host.services[ROUTER_SERVICE] = router
    assert isinstance(router, Router)
    return router


@final
class Router:
    """Routing, budgets, prices, limits and usage metrics for one host.

    :param host: the running host (its registry, config and audit).
    :param policy: the routing policy (default: config ``[routing]``).
    :param prices: the price table (default: bundled + config ``[prices]``).
    :param clock: time source for cooldowns, limits and backoff (tests pass a fake).
    """

    def __init__(
        self,
        host: Host,
        *,
        policy: RoutingPolicy | None = None,
        prices: PriceTable | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.host = host
        self.clock: Clock = clock or SystemClock()
        routing = host.config.section("routing")
        self.policy = policy or RoutingPolicy.from_dict(routing, where="config [routing]")
        self.prices = prices or PriceTable.load(host.config.section("prices"))
        self.limiters = LimiterSet(parse_limits(routing.get("limits")), clock=self.clock)
        self.cooldowns = CooldownTracker(clock=self.clock)
        self.budgets = BudgetTracker.from_config(host.config.section("budgets"))
        self.catalog = ModelCatalog(clock=self.clock)
        self.metrics = MetricsLog()

    # -- configuration ----------------------------------------------------------------
    def set_policy(self, policy: RoutingPolicy, *, via: str = "api") -> None:
        """Replace the policy; calls already running keep the one they started with."""
        self.policy = policy
        self.host.audit("config.change", section="routing", via=via, rules=len(policy.rules))

    def resolve_budget(self, budget: Budget | str | None) -> Budget | None:
        """A budget object from an object, an id, or the context's current budget."""
        if isinstance(budget, str):
            return self.budgets.get(budget)
        return budget if budget is not None else current_budget()

    # -- running -----------------------------------------------------------------------
    async def chat(
        self,
        request: ChatRequest,
        *,
        policy: RoutingPolicy | None = None,
        task: str | None = None,
        route: str | None = None,
        budget: Budget | str | None = None,
        on_chunk: ChunkCallback | None = None,
        priority: int = 0,
    ) -> ChatResult:
        """Serve ``request`` by the policy, within ``budget``, and say how in ``result.route``.

        :param policy: use this policy instead of the router's (and plugins').
        :param task: the task type rules are keyed by (``"code"``, ``"summarize"``...).
        :param route: use the rule with this name directly.
        :param budget: a :class:`Budget`, a budget id, or None for the current one.
        :param on_chunk: receives every chunk as it streams.
        :param priority: queue priority at rate-limited endpoints (lower goes first).
        """
        spend = self.resolve_budget(budget)
        prompt_tokens = estimate_prompt_tokens(request)
        plan = await plan_route(
            self.host,
            request,
            policy=policy or self.policy,
            explicit=policy is not None,
            task=task,
            route=route,
            prompt_tokens=prompt_tokens,
            streaming=on_chunk is not None,
        )
        report = RouteReport(
            plan.rule.name, "requested model" if plan.direct else f"rule {plan.rule.name!r}"
        )
        with use_budget(spend):
            return await self._run(plan, request, spend, prompt_tokens, on_chunk, priority, report)

    async def _run(
        self,
        plan: Plan,
        request: ChatRequest,
        spend: Budget | None,
        prompt_tokens: int,
        on_chunk: ChunkCallback | None,
        priority: int,
        report: RouteReport,
    ) -> ChatResult:
        rule = plan.rule
        retries = rule.retries if rule.retries is not None else self.policy.retries
        skips: list[Skip] = []
        last: LLMError | None = None
        for index, model in enumerate(plan.candidates):
            if not plan.direct:
                skip = await skip_reason(self, model, rule, request, prompt_tokens)
                if skip is not None:
                    skips.append(skip)
                    report.skipped(model, skip[1])
                    continue
            attempt_no = 0
            while True:
                try:
                    result = await self._attempt(
                        model, request, spend, prompt_tokens, on_chunk, priority, report
                    )
                except _StartedError as wrapped:
                    self._record_failure(model, rule.name, wrapped.error, report, spend)
                    raise wrapped.error from None
                except LLMError as exc:
                    report.failed(model, exc, attempt=attempt_no)
                    self._after_failure(model, rule, exc)
                    delay = self._retry_delay(exc, attempt_no, retries)
                    if delay is not None:
                        attempt_no += 1
                        await self.clock.sleep(delay)
                        continue
                    more = index < len(plan.candidates) - 1
                    if more and matches(exc, rule.fallback_on):
                        last = exc
                        break
                    self._record_failure(model, rule.name, exc, report, spend)
                    raise
                if index > 0 or report.tried:
                    report.reason = f"fallback in rule {rule.name!r}"
                return result
        raise self._exhausted(rule, skips, last, report, spend)

    def _retry_delay(self, exc: LLMError, attempt_no: int, retries: int) -> float | None:
        """Backoff before retrying the same model (429/503 from the server), or None."""
        if attempt_no >= retries or exc.data.get("limiter") is not None:
            return None  # no retries left, or our own limiter already waited
        if error_name(exc) not in ("rate_limited", "loading"):
            return None
        retry_after = exc.data.get("retry_after")
        delay = backoff_delay(
            attempt_no,
            retry_after=float(retry_after) if isinstance(retry_after, int | float) else None,
            cap=self.policy.max_backoff_s,
        )
        return None if delay > self.policy.max_backoff_s else delay

    def _after_failure(self, model: str, rule: RouteRule, exc: LLMError) -> None:
        name = error_name(exc)
        if isinstance(exc, RateLimitedError | QueueFullError) and "limiter" in exc.data:
            self.host.audit(
                "rate_limit.denied",
                model=model,
                limiter=exc.data["limiter"],
                error=name,
                retry_after=exc.data.get("retry_after"),
            )
            return
        if isinstance(exc, BudgetExceededError):
            self.host.audit(
                "budget.denied",
                model=model,
                budget=exc.data.get("budget"),
                dimension=exc.data.get("dimension"),
                reason=exc.data.get("reason"),
            )
            return
        if name in COOLDOWN_ON:
            seconds = rule.cooldown_s if rule.cooldown_s is not None else self.policy.cooldown_s
            retry_after = exc.data.get("retry_after")
            if isinstance(retry_after, int | float):
                seconds = max(seconds, float(retry_after))
                limiter = self.limiters.for_model(model)
                if limiter is not None:
                    limiter.penalize(float(retry_after))
            self.cooldowns.start(model, name, seconds)

    def _exhausted(
        self,
        rule: RouteRule,
        skips: list[Skip],
        last: LLMError | None,
        report: RouteReport,
        spend: Budget | None,
    ) -> LLMError:
        model = report.tried[-1]["model"] if report.tried else rule.name
        waits = [s[2] for s in skips if s[2] is not None]
        error = last if last is not None else nothing_to_try(rule.name, report, waits)
        self._record_failure(model, rule.name, error, report, spend)
        return error

    def _record_failure(
        self,
        model: str,
        rule: str,
        exc: LLMError,
        report: RouteReport,
        spend: Budget | None,
    ) -> None:
        exc.data.setdefault("route", report.to_dict())
        self.metrics.add(
            UsageRecord(
                time=time.time(),
                model=model,
                rule=rule,
                ok=False,
                error=error_name(exc),
                # Every attempt failed; the first one was not a fallback.
                fallbacks=max(0, len(report.tried) - 1),
                budget=spend.id if spend is not None else None,
            )
        )

    async def _is_local(self, model: str) -> bool | None:
        info = await self.catalog.info(self.host.registry, model)
        return info.local if info is not None else None

    async def _attempt(
        self,
        model: str,
        request: ChatRequest,
        spend: Budget | None,
        prompt_tokens: int,
        on_chunk: ChunkCallback | None,
        priority: int,
        report: RouteReport,
    ) -> ChatResult:
        registry = self.host.registry
        attempt = Attempt(model, on_chunk)
        max_tokens = request.options.max_tokens
        local: bool | None = None
        if spend is not None:
            local = await self._is_local(model)
            capped, reserve_tokens, reserve_cost = plan_budget(
                spend,
                self.prices,
                model,
                local=local,
                prompt_tokens=prompt_tokens,
                max_tokens=max_tokens,
            )
            attempt.reservation = spend.reserve(reserve_tokens, reserve_cost)
            if capped != max_tokens:
                attempt.max_tokens_cap = capped
                request = msgspec.structs.replace(
                    request, options=msgspec.structs.replace(request.options, max_tokens=capped)
                )
                max_tokens = capped
        entry = registry.providers.get(model.partition("/")[0])
        concurrency = getattr(entry.obj, "max_concurrency", None) if entry else None
        limiter = self.limiters.for_model(
            model, default_concurrency=concurrency if isinstance(concurrency, int) else None
        )
        try:
            result = await attempt.run(
                registry,
                request,
                limiter=limiter,
                limiter_tokens=prompt_tokens + (max_tokens or 0),
                priority=priority,
                plugin_slot=plugin_slot(self.host, entry.plugin) if entry else None,
            )
        except BaseException as exc:
            spent = attempt.partial_tokens(prompt_tokens)
            attempt.finish(spent if attempt.started else None, None)
            if attempt.started and isinstance(exc, LLMError):
                report.failed(model, exc)
                raise _StartedError(exc) from exc
            raise
        usage, estimated = settle_usage(result, prompt_estimate=prompt_tokens)
        charged: float | None = None
        try:
            if spend is None and self.prices.lookup(model).state == "unknown":
                local = await self._is_local(model)  # only asked when the price depends on it
            cost = self.prices.cost(model, usage, local=local, estimated=estimated)
            charged = cost.amount
        finally:
            attempt.finish(usage.total_tokens, charged)
        self.cooldowns.clear(model)
        report.served_by = model
        report.extra.update(route_extra(attempt, usage, estimated))
        report.extra["cost"] = cost.to_dict()
        if spend is not None:
            report.extra["budget"] = spend.id
        result.cost = cost.amount
        result.route = report.to_dict()
        self.metrics.add(
            UsageRecord(
                time=time.time(),
                model=model,
                rule=report.rule,
                prompt_tokens=usage.prompt_tokens,
                completion_tokens=usage.completion_tokens,
                cost=cost.amount,
                cost_state=cost.state,
                total_ms=result.timings.total_ms,
                ttft_ms=result.timings.ttft_ms,
                fallbacks=len(report.tried),
                budget=spend.id if spend is not None else None,
            )
        )
        return result

    async def compare(
        self,
        models: list[str],
        messages: list[Message],
        *,
        options: ChatOptions | None = None,
        tools: list[ToolDefinition] | None = None,
        budget: Budget | str | None = None,
    ) -> dict[str, Any]:
        """Send one prompt to several models concurrently (see :func:`compare_models`)."""
        return await compare_models(
            self, models, messages, options=options, tools=tools, budget=self.resolve_budget(budget)
        )

    # -- reporting ----------------------------------------------------------------------
    def stats(self, since: float | None = None) -> dict[str, Any]:
        """Requests, tokens, cost and latency per model and per route since ``since``."""
        return summarize(self.metrics.since(since), since=since, source="router")

    def state(self) -> dict[str, Any]:
        """The policy, the limiters and the active cooldowns (``routing/get``)."""
        return {
            "policy": self.policy.to_dict(),
            "limits": self.limiters.snapshot(),
            "cooldowns": self.cooldowns.snapshot(),
            "prices_version": self.prices.version,
        }

    async def aclose(self) -> None:
        """Stop the limiters' timers (called when the host stops)."""
        await self.limiters.aclose()


class _StartedError(Exception):
    """Carries an error raised after the first token out of the fallback loop."""

    def __init__(self, error: LLMError) -> None:
        super().__init__(str(error))
        self.error = error
