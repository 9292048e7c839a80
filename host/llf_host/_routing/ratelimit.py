"""Rate limits, concurrency limits and a bounded priority queue per endpoint.

An endpoint is a provider prefix (``ollama``) or one model id (``openai/gpt-4o``),
configured under ``[routing.limits."<key>"]``::

    [routing.limits.ollama]
    max_concurrency = 1      # server slots (OLLAMA_NUM_PARALLEL)
    max_queue = 32           # waiting requests beyond that: QueueFullError
    rpm = 120                # requests per minute (token bucket)
    tpm = 200000             # tokens per minute (token bucket)
    max_wait_s = 30          # wait longer than this for the rate: RateLimitedError

Every request for the endpoint goes through one :class:`EndpointLimiter`: it
waits in a priority queue (lower ``priority`` = served first, FIFO within a
priority) until a concurrency slot is free *and* both buckets have room. A full
queue raises :class:`~llf_host.QueueFullError` at once; a rate wait longer than
``max_wait_s`` raises :class:`~llf_host.RateLimitedError` with ``retry_after``.
When the server itself answers 429/503, :meth:`EndpointLimiter.penalize` blocks
the endpoint for the server's ``retry_after``. Time comes from an injectable
:class:`Clock`, so tests run on virtual time.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
from collections.abc import Callable
from typing import Any
from typing import final

import msgspec

from .._errors import ConfigError
from .._errors import QueueFullError
from .._errors import RateLimitedError
from .clock import Clock
from .clock import SystemClock

__all__ = [
    "EndpointLimiter",
    "LimitSettings",
    "LimiterSet",
    "Permit",
    "TokenBucket",
    "backoff_delay",
    "parse_limits",
]

log = logging.getLogger("llf.routing")


@final
class TokenBucket:
    """A token bucket refilled at ``per_minute / 60`` per second, holding ``burst`` at most.

    A take larger than the bucket is allowed once the bucket is full and leaves
    it in debt, so one huge request is never starved forever.
    """

    def __init__(
        self, per_minute: float, *, burst: float | None = None, clock: Clock | None = None
    ) -> None:
        if per_minute <= 0:
            raise ValueError(f"per_minute must be > 0, got {per_minute}")
        self.per_minute = per_minute
        self.rate = per_minute / 60.0
        self.capacity = burst if burst is not None else per_minute
        self._clock = clock or SystemClock()
        self.tokens = self.capacity
        self._updated = self._clock.monotonic()

    def _refill(self) -> None:
        now = self._clock.monotonic()
        elapsed = max(0.0, now - self._updated)
        self._updated = now
        self.tokens = min(self.capacity, self.tokens + elapsed * self.rate)

    @property
    def available(self) -> float:
        """Tokens in the bucket now (negative while in debt)."""
        self._refill()
        return self.tokens

    def wait_time(self, amount: float = 1.0) -> float:
        """Seconds until ``amount`` can be taken (0 when it can be taken now)."""
        self._refill()
        need = min(amount, self.capacity)
        if self.tokens >= need:
            return 0.0
        return (need - self.tokens) / self.rate

    def take(self, amount: float = 1.0) -> None:
        """Take ``amount`` (call :meth:`wait_time` first; this never waits)."""
        self._refill()
        self.tokens -= amount

    def adjust(self, delta: float) -> None:
        """Give back (``delta > 0``) or charge more (``delta < 0``) after the fact."""
        self._refill()
        self.tokens = min(self.capacity, self.tokens + delta)


class LimitSettings(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """The limits of one endpoint (``[routing.limits."<key>"]``)."""

    rpm: float | None = None
    tpm: float | None = None
    max_concurrency: int | None = None
    max_queue: int = 64
    max_wait_s: float = 30.0

    def __post_init__(self) -> None:
        for name in ("rpm", "tpm", "max_concurrency"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ValueError(f"{name} must be > 0")
        if self.max_queue < 0 or self.max_wait_s < 0:
            raise ValueError("max_queue and max_wait_s must be >= 0")


@final
class Permit:
    """A granted slot; :meth:`release` it with the tokens really used."""

    __slots__ = ("_limiter", "estimated_tokens", "released")

    def __init__(self, limiter: EndpointLimiter, estimated_tokens: int) -> None:
        self._limiter = limiter
        self.estimated_tokens = estimated_tokens
        self.released = False

    def release(self, actual_tokens: int | None = None) -> None:
        """Free the concurrency slot; correct the token bucket by the real usage."""
        if self.released:
            return
        self.released = True
        self._limiter._release(self, actual_tokens)


class _Waiter:
    __slots__ = ("future", "tokens")

    def __init__(self, tokens: int, future: asyncio.Future[Permit]) -> None:
        self.tokens = tokens
        self.future = future


@final
class EndpointLimiter:
    """Concurrency slots, two token buckets and a bounded priority queue for one endpoint."""

    def __init__(self, key: str, settings: LimitSettings, *, clock: Clock | None = None) -> None:
        self.key = key
        self.settings = settings
        self._clock = clock or SystemClock()
        self._requests = (
            TokenBucket(settings.rpm, clock=self._clock) if settings.rpm is not None else None
        )
        self._tokens = (
            TokenBucket(settings.tpm, clock=self._clock) if settings.tpm is not None else None
        )
        self._blocked_until = 0.0
        self.active = 0
        self._heap: list[tuple[int, int, _Waiter]] = []
        self._seq = itertools.count()
        self._timer: asyncio.Task[None] | None = None
        #: Counters for stats: granted, queued, queue_full, rate_limited.
        self.counters: dict[str, int] = {
            "granted": 0,
            "queued": 0,
            "queue_full": 0,
            "rate_limited": 0,
        }

    # -- state -------------------------------------------------------------------
    @property
    def waiting(self) -> int:
        """Requests in the queue now."""
        return sum(1 for _, _, w in self._heap if not w.future.done())

    def _has_slot(self) -> bool:
        limit = self.settings.max_concurrency
        return limit is None or self.active < limit

    def rate_wait(self, tokens: int) -> float:
        """Seconds until a request of ``tokens`` passes both buckets and any server block."""
        wait = max(0.0, self._blocked_until - self._clock.monotonic())
        if self._requests is not None:
            wait = max(wait, self._requests.wait_time(1))
        if self._tokens is not None and tokens > 0:
            wait = max(wait, self._tokens.wait_time(tokens))
        return wait

    def penalize(self, seconds: float) -> None:
        """The server said "retry after ``seconds``": hold every request until then."""
        until = self._clock.monotonic() + max(seconds, 0.0)
        self._blocked_until = max(self._blocked_until, until)

    def snapshot(self) -> dict[str, Any]:
        """Limits, occupancy and counters (for ``routing/get`` and stats)."""
        return {
            "key": self.key,
            "limits": msgspec.to_builtins(self.settings),
            "active": self.active,
            "waiting": self.waiting,
            "blocked_for_s": round(max(0.0, self._blocked_until - self._clock.monotonic()), 3),
            **self.counters,
        }

    # -- acquire / release -------------------------------------------------------------
    def _grant(self, tokens: int) -> Permit:
        self.active += 1
        if self._requests is not None:
            self._requests.take(1)
        if self._tokens is not None and tokens > 0:
            self._tokens.take(tokens)
        self.counters["granted"] += 1
        return Permit(self, tokens)

    def _rate_limited(self, wait: float) -> RateLimitedError:
        self.counters["rate_limited"] += 1
        limits = ", ".join(
            f"{name} {value:g}"
            for name, value in (("rpm", self.settings.rpm), ("tpm", self.settings.tpm))
            if value is not None
        )
        return RateLimitedError(
            f"endpoint {self.key!r} is rate limited ({limits or 'server asked to wait'}): "
            f"retry after {wait:.1f} s",
            hint=f"wait and retry, or raise the limits in [routing.limits.{self.key!r}]",
            retry_after=round(wait, 3),
            limiter=self.key,
            max_wait_s=self.settings.max_wait_s,
        )

    async def acquire(self, tokens: int = 0, *, priority: int = 0) -> Permit:
        """Wait for a slot and for the rate; lower ``priority`` values are served first.

        Raises :class:`QueueFullError` when the queue is full and
        :class:`RateLimitedError` when the rate wait exceeds ``max_wait_s``.
        """
        wait = self.rate_wait(tokens)
        if wait > self.settings.max_wait_s:
            raise self._rate_limited(wait)
        if not self._heap and self._has_slot() and wait == 0:
            return self._grant(tokens)
        if self.waiting >= self.settings.max_queue:
            self.counters["queue_full"] += 1
            raise QueueFullError(
                f"the request queue for {self.key!r} is full "
                f"({self.settings.max_queue} waiting, {self.active} running)",
                hint="retry later, send fewer requests at once, or raise "
                f"[routing.limits.{self.key!r}] max_queue",
                limiter=self.key,
                max_queue=self.settings.max_queue,
                active=self.active,
            )
        future: asyncio.Future[Permit] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._heap, (priority, next(self._seq), _Waiter(tokens, future)))
        self.counters["queued"] += 1
        self._pump()
        try:
            return await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                future.result().release(0)
            self._pump()
            raise

    def _release(self, permit: Permit, actual_tokens: int | None) -> None:
        self.active -= 1
        if self._tokens is not None and actual_tokens is not None:
            self._tokens.adjust(permit.estimated_tokens - actual_tokens)
        self._pump()

    def _pump(self) -> None:
        """Grant queued requests in priority order while slots and rate allow."""
        while self._heap:
            _, _, head = self._heap[0]
            if head.future.done():  # cancelled while waiting
                heapq.heappop(self._heap)
                continue
            if not self._has_slot():
                return
            wait = self.rate_wait(head.tokens)
            if wait > 0:
                self._wake_in(wait)
                return
            heapq.heappop(self._heap)
            head.future.set_result(self._grant(head.tokens))

    def _wake_in(self, seconds: float) -> None:
        if self._timer is not None and not self._timer.done():
            return

        async def wake() -> None:
            await self._clock.sleep(seconds)
            self._timer = None
            self._pump()

        self._timer = asyncio.get_running_loop().create_task(wake(), name=f"llf-limit-{self.key}")

    async def aclose(self) -> None:
        """Stop the wake-up timer."""
        if self._timer is not None:
            self._timer.cancel()
            try:
                await self._timer
            except asyncio.CancelledError:
                pass
            self._timer = None


def parse_limits(raw: Any) -> dict[str, LimitSettings]:
    """Validate the ``[routing.limits]`` table into settings by endpoint key."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError(
            "[routing.limits] must be a table of endpoint tables",
            hint='write [routing.limits.ollama] or [routing.limits."openai/gpt-4o"]',
            field="routing.limits",
        )
    out: dict[str, LimitSettings] = {}
    for key, value in raw.items():
        try:
            out[key] = msgspec.convert(value, LimitSettings)
        except (msgspec.ValidationError, ValueError) as exc:
            raise ConfigError(
                f"[routing.limits.{key!r}] is invalid: {exc}",
                hint="keys: rpm, tpm, max_concurrency, max_queue, max_wait_s (all > 0)",
                field=f"routing.limits.{key}",
            ) from None
    return out


@final
class LimiterSet:
    """One limiter per configured endpoint; a model uses its own key, else its prefix's.

    ``defaults`` gives settings for keys not in the config (e.g. a provider that
    declares ``max_concurrency = 1``); keys with neither get no limiter.
    """

    def __init__(self, settings: dict[str, LimitSettings], *, clock: Clock | None = None) -> None:
        self.settings = dict(settings)
        self._clock = clock or SystemClock()
        self._limiters: dict[str, EndpointLimiter] = {}

    def key_for(self, model_id: str, *, default_concurrency: int | None = None) -> str | None:
        """Which endpoint key limits ``model_id`` (None: unlimited)."""
        if model_id in self.settings:
            return model_id
        prefix = model_id.partition("/")[0]
        if prefix in self.settings:
            return prefix
        if default_concurrency is not None:
            self.settings[prefix] = LimitSettings(max_concurrency=default_concurrency)
            return prefix
        return None

    def for_model(
        self, model_id: str, *, default_concurrency: int | None = None
    ) -> EndpointLimiter | None:
        """The limiter for ``model_id``, created on first use."""
        key = self.key_for(model_id, default_concurrency=default_concurrency)
        if key is None:
            return None
        limiter = self._limiters.get(key)
        if limiter is None:
            limiter = EndpointLimiter(key, self.settings[key], clock=self._clock)
            self._limiters[key] = limiter
        return limiter

    def snapshot(self) -> list[dict[str, Any]]:
        """Every configured endpoint's state, used yet or not (a limiter is cheap and
        starts nothing until a request waits)."""
        for key, settings in self.settings.items():
            if key not in self._limiters:
                self._limiters[key] = EndpointLimiter(key, settings, clock=self._clock)
        return [limiter.snapshot() for limiter in self._limiters.values()]

    async def aclose(self) -> None:
        """Stop every limiter's timer."""
        for limiter in self._limiters.values():
            await limiter.aclose()


def backoff_delay(
    attempt: int,
    *,
    base: float = 0.5,
    factor: float = 2.0,
    cap: float = 30.0,
    retry_after: float | None = None,
    jitter: Callable[[], float] | None = None,
) -> float:
    """Exponential backoff with jitter for retry ``attempt`` (0-based).

    The delay is ``base * factor**attempt`` capped at ``cap``, scaled by a random
    factor in [0.5, 1), and never shorter than the server's ``retry_after``.
    """
    if jitter is None:
        import random

        jitter = random.random
    delay = min(cap, base * factor**attempt) * (0.5 + jitter() / 2)
    if retry_after is not None:
        delay = max(delay, retry_after)
    return delay
