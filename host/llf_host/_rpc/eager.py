"""Finishing a coroutine in a task after its first step ran eagerly.

The dispatcher runs a handler's first step inline (most handlers finish there,
with no task and no extra loop turn). When the step stops at an ``await``, the
coroutine continues in a task through :class:`Continuation`, which hands the awaited
future to the task and forwards results and exceptions (cancellation included)
back into the coroutine — what Python 3.12's eager tasks do.
"""

from __future__ import annotations

import types
from collections.abc import Coroutine
from collections.abc import Generator
from typing import Any
from typing import Final
from typing import final

__all__ = ["COROUTINE", "Continuation"]

#: The type of ``async def`` coroutine objects.
COROUTINE: Final = types.CoroutineType


_STARTED: Final = object()


@final
class Continuation(Coroutine[Any, Any, Any]):
    """A coroutine that already ran its first step (which yielded ``first``), as a task body.

    ``asyncio`` tasks accept any :class:`~collections.abc.Coroutine`. The task's
    first ``send`` gets back the future the handler is already waiting on; a
    cancel that arrives before the task's first step is thrown into the handler
    at that ``await``, so its cleanup (``finally``, ``async with``) always runs.
    """

    __slots__ = ("_coro", "_first")

    def __init__(self, coro: Coroutine[Any, Any, Any], first: Any) -> None:
        self._coro = coro
        self._first = first

    def send(self, value: Any) -> Any:
        first = self._first
        if first is not _STARTED:
            self._first = _STARTED
            return first
        return self._coro.send(value)

    def throw(self, typ: Any, val: Any = None, tb: Any = None) -> Any:
        self._first = _STARTED
        if val is None and tb is None:
            return self._coro.throw(typ)
        return self._coro.throw(typ, val, tb)

    def close(self) -> None:
        self._coro.close()

    def __await__(self) -> Generator[Any, Any, Any]:
        try:
            yielded = self.send(None)
        except StopIteration as stop:
            return stop.value
        while True:
            try:
                value = yield yielded
            except BaseException as exc:  # noqa: BLE001 - forwarded to the coroutine
                try:
                    yielded = self.throw(exc)
                except StopIteration as stop:
                    return stop.value
            else:
                try:
                    yielded = self.send(value)
                except StopIteration as stop:
                    return stop.value
