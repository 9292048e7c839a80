"""Counting the requests that use one loaded version of a plugin.

A reload swaps the registry at once, but the old version's objects stay alive for
the requests that resolved them. Each of those requests holds a lease; the old
version is shut down (``llf_shutdown``, ``aclose``) only when its last lease is
returned, or after a grace period.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from typing import final

__all__ = ["Lease"]


@final
class Lease:
    """How many requests are using one plugin version right now."""

    __slots__ = ("_active", "_idle")

    def __init__(self) -> None:
        self._active = 0
        self._idle: asyncio.Event | None = None

    @property
    def active(self) -> int:
        """Requests currently holding this lease."""
        return self._active

    @contextmanager
    def hold(self) -> Iterator[None]:
        """Hold the lease for the duration of a ``with`` block."""
        self._active += 1
        try:
            yield
        finally:
            self._active -= 1
            if self._active == 0 and self._idle is not None:
                self._idle.set()

    async def wait_idle(self, timeout: float) -> bool:
        """Wait until no request holds the lease; False if ``timeout`` passed first."""
        if self._active == 0:
            return True
        if self._idle is None:
            self._idle = asyncio.Event()
        self._idle.clear()
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
        except TimeoutError:
            return False
        return True
