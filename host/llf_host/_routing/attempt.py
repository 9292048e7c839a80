"""One try of one model: budget reservation, endpoint limits, the stream, settlement.

:func:`plan_budget` and :class:`Attempt` are what the router does for each
candidate. It reserves on the budget *before* anything is sent (raising
:class:`~llf_host.BudgetExceededError` when the call cannot fit, and capping
``max_tokens`` to what the budget has left), waits for the endpoint's limiter,
streams the chat and settles the budget with the real usage (or an estimate
when the engine reports none). ``Attempt.started`` tells the router whether the
caller has seen output, after which no fallback is allowed.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Awaitable
from collections.abc import Callable
from typing import TYPE_CHECKING
from typing import Any
from typing import final

from msgspec import structs

from .._chat import stream_chat
from .._errors import BudgetExceededError
from .._types import ChatChunk
from .._types import ChatRequest
from .._types import ChatResult
from .._types import Usage
from .estimate import estimate_text_tokens
from .prices import Price
from .prices import PriceTable

if TYPE_CHECKING:
    from .._registry import Registry
    from .budget import Budget
    from .budget import Reservation
    from .ratelimit import EndpointLimiter
    from .ratelimit import Permit

__all__ = ["Attempt", "plan_budget", "route_extra", "settle_usage"]

ChunkCallback = Callable[[ChatChunk], Awaitable[None] | None]


def plan_budget(
    budget: Budget,
    prices: PriceTable,
    model_id: str,
    *,
    local: bool | None,
    prompt_tokens: int,
    max_tokens: int | None,
) -> tuple[int | None, int, float]:
    """How much to reserve for one call, and the ``max_tokens`` to send.

    Returns ``(max_tokens, reserve_tokens, reserve_cost)``. A request that sets
    ``max_tokens`` reserves the prompt estimate plus ``max_tokens`` (and is
    refused when that does not fit). A request without ``max_tokens`` could
    generate without bound, so it gets ``max_tokens`` capped to what the budget
    (tokens and cost) has left after the prompt: the engine itself stops before
    the budget is overspent. Raises :class:`BudgetExceededError` when the call
    cannot fit, or when the budget caps cost and the model's price is unknown.
    """
    lookup = prices.lookup(model_id, local=local)
    price = lookup.price
    if budget.limits_cost and price is None:
        raise BudgetExceededError(
            f"budget {budget.describe()} caps cost, but the price of {model_id!r} is unknown",
            hint=f'add a price for it in the [prices] config section ("{model_id}" = '
            "{ input_per_1m = ..., output_per_1m = ... }) or use a budget without limit_cost",
            budget=budget.id,
            model=model_id,
            reason="unknown_price",
            dimension="cost",
        )
    if max_tokens is None:
        max_tokens = _room(budget, price, prompt_tokens)
    completion = max_tokens or 0
    reserve_cost = price.amount(prompt_tokens, completion) if price is not None else 0.0
    return max_tokens, prompt_tokens + completion, reserve_cost


def _room(budget: Budget, price: Price | None, prompt_tokens: int) -> int | None:
    """The most completion tokens the budget allows after the prompt (None: no cap)."""
    room: int | None = None
    tokens_left = budget.available_tokens
    if tokens_left is not None:
        room = tokens_left - prompt_tokens
    cost_left = budget.available_cost
    if cost_left is not None and price is not None and price.output_per_1m > 0:
        per_token = price.output_per_1m / 1_000_000
        room_cost = math.floor((cost_left - price.amount(prompt_tokens, 0)) / per_token + 1e-9)
        room = room_cost if room is None else min(room, room_cost)
    if room is not None and room <= 0:
        # Not even one token fits: let the budget name the level that is short.
        one = price.amount(prompt_tokens, 1) if price is not None else 0.0
        budget.check(tokens=prompt_tokens + 1, cost=one)
        raise BudgetExceededError(
            f"budget {budget.describe()} has no room left for a completion",
            hint="give the budget more room or shorten the prompt",
            budget=budget.id,
            dimension="tokens",
        )
    return room


@final
class Attempt:
    """One model's try, with everything needed to clean up whatever happens."""

    def __init__(self, model_id: str, on_chunk: ChunkCallback | None) -> None:
        self.model_id = model_id
        self._on_chunk = on_chunk
        #: True once the caller has been sent a token: no fallback after this.
        self.started = False
        self.streamed_chars = 0
        self.reservation: Reservation | None = None
        self.permit: Permit | None = None
        self.max_tokens_cap: int | None = None

    async def forward(self, chunk: ChatChunk) -> None:
        """Pass a chunk on to the caller, noting the first real token."""
        if chunk.content or chunk.reasoning or chunk.tool_calls:
            self.started = True
            self.streamed_chars += len(chunk.content) + len(chunk.reasoning)
            self.streamed_chars += sum(len(d.arguments) for d in chunk.tool_calls)
        if self._on_chunk is not None:
            maybe = self._on_chunk(chunk)
            if maybe is not None:
                await maybe

    async def run(
        self,
        registry: Registry,
        request: ChatRequest,
        *,
        limiter: EndpointLimiter | None,
        limiter_tokens: int,
        priority: int,
        plugin_slot: contextlib.AbstractAsyncContextManager[Any] | None = None,
    ) -> ChatResult:
        """Wait for the endpoint, then for a slot in its plugin (``[host]
        plugin_concurrency``), then stream the chat through :meth:`forward`."""
        if limiter is not None:
            self.permit = await limiter.acquire(limiter_tokens, priority=priority)
        req = structs.replace(request, model=self.model_id, model_id=self.model_id)
        async with plugin_slot or contextlib.nullcontext():
            return await stream_chat(registry, req, on_chunk=self.forward)

    def partial_tokens(self, prompt_tokens: int) -> int:
        """Estimated tokens spent by a call that failed mid-stream."""
        if not self.started:
            return 0
        return prompt_tokens + math.ceil(self.streamed_chars / 4)

    def finish(self, tokens: int | None, cost: float | None) -> None:
        """Settle the reservation and free the endpoint slot (idempotent)."""
        if self.reservation is not None:
            if tokens is None:
                self.reservation.release()
            else:
                self.reservation.settle(tokens, cost)
        if self.permit is not None:
            self.permit.release(tokens)


def settle_usage(result: ChatResult, *, prompt_estimate: int) -> tuple[Usage, bool]:
    """The usage to charge: the engine's, with missing counts estimated."""
    usage = result.usage
    estimated = False
    prompt = usage.prompt_tokens
    if prompt is None:
        prompt, estimated = prompt_estimate, True
    completion = usage.completion_tokens
    if completion is None:
        text = (result.message.content or "") + (result.message.reasoning or "")
        for call in result.message.tool_calls or []:
            text += call.function.arguments
        completion, estimated = estimate_text_tokens(text), True
    total = usage.total_tokens if usage.total_tokens is not None else prompt + completion
    return (
        Usage(
            prompt_tokens=prompt,
            completion_tokens=completion,
            total_tokens=total,
            reasoning_tokens=usage.reasoning_tokens,
            cached_tokens=usage.cached_tokens,
        ),
        estimated,
    )


def route_extra(attempt: Attempt, usage: Usage, estimated: bool) -> dict[str, Any]:
    """Extra facts for ``ChatResult.route``: capped max_tokens, estimated usage."""
    extra: dict[str, Any] = {}
    if attempt.max_tokens_cap is not None:
        extra["max_tokens_capped_to"] = attempt.max_tokens_cap
    if estimated:
        extra["usage_estimated"] = True
        extra["charged_tokens"] = usage.total_tokens
    return extra
