"""Per-tool admission: a token bucket (rate) and a semaphore (concurrency)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import final

__all__ = ["TokenBucket", "ToolGate"]


@final
class TokenBucket:
    """``rate_per_minute`` tokens per minute, holding at most ``capacity``.

    The default capacity is ten seconds' worth (at least one), so a burst is
    allowed but a minute's quota cannot be spent at once.
    """

    def __init__(
        self,
        rate_per_minute: float,
        *,
        capacity: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rate = rate_per_minute / 60.0
        self.capacity = capacity if capacity is not None else max(1.0, rate_per_minute / 6.0)
        self._tokens = self.capacity
        self._clock = clock
        self._last = clock()

    def take(self) -> float:
        """Take one token: 0.0 if it was there, else the seconds until one will be."""
        now = self._clock()
        self._tokens = min(self.capacity, self._tokens + (now - self._last) * self.rate)
        self._last = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return 0.0
        return (1.0 - self._tokens) / self.rate if self.rate > 0 else float("inf")


@final
class ToolGate:
    """Admission for one tool: rate first (fails fast), then a concurrency slot (waits)."""

    def __init__(self, concurrency: int, rate_per_minute: float | None) -> None:
        self.concurrency = concurrency
        self.rate_per_minute = rate_per_minute
        self.bucket = TokenBucket(rate_per_minute) if rate_per_minute else None
        self.slots = asyncio.Semaphore(concurrency)
        self.running = 0

    def matches(self, concurrency: int, rate_per_minute: float | None) -> bool:
        """Whether this gate was built for these settings."""
        return self.concurrency == concurrency and self.rate_per_minute == rate_per_minute
