"""Where the router reads time and how it waits: the real clock, or virtual time.

Cooldowns, token buckets, queue wake-ups and backoff all take a :class:`Clock`,
so tests drive them with :class:`ManualClock` instead of sleeping.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol
from typing import final

__all__ = ["Clock", "ManualClock", "SystemClock"]


class Clock(Protocol):
    """Where the limiters read time and how they wait."""

    def monotonic(self) -> float:
        """Seconds on a monotonic clock."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds``."""
        ...


@final
class SystemClock:
    """The real clock."""

    def monotonic(self) -> float:
        """``time.monotonic()``."""
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        """``asyncio.sleep``."""
        await asyncio.sleep(seconds)


@final
class ManualClock:
    """Virtual time for tests: time moves only when the test says so.

    ``sleep`` waits until :meth:`advance` moves the clock past its deadline. With
    ``auto_advance=True`` a sleep instead jumps the clock forward at once (handy
    when the code under test sleeps for backoff and the test only checks results).
    """

    def __init__(self, start: float = 1000.0, *, auto_advance: bool = False) -> None:
        self.now = start
        self.auto_advance = auto_advance
        self._sleepers: list[tuple[float, asyncio.Future[None]]] = []
        #: Every sleep requested, in seconds (for assertions on backoff).
        self.slept: list[float] = []

    def monotonic(self) -> float:
        """The virtual time."""
        return self.now

    def advance(self, seconds: float) -> None:
        """Move time forward and wake every sleeper whose deadline has passed."""
        self.now += seconds
        due = [item for item in self._sleepers if item[0] <= self.now]
        self._sleepers = [item for item in self._sleepers if item[0] > self.now]
        for _, future in due:
            if not future.done():
                future.set_result(None)

    async def tick(self, seconds: float, *, spins: int = 10) -> None:
        """:meth:`advance`, then let woken tasks run."""
        self.advance(seconds)
        for _ in range(spins):
            await asyncio.sleep(0)

    async def sleep(self, seconds: float) -> None:
        """Wait until the clock reaches ``now + seconds`` (or jump there when auto)."""
        seconds = max(seconds, 0.0)
        self.slept.append(seconds)
        if self.auto_advance or seconds == 0:
            self.now += seconds
            await asyncio.sleep(0)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._sleepers.append((self.now + seconds, future))
        await future
