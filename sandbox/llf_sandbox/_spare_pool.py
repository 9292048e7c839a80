"""The host's side of spare children: which are idle, who waits for one, handing over.

A spare is a child the worker forked and confined before any call (see
``_zygote``); the worker sends this side its socket. Spares are kept per *key*
(:func:`llf_sandbox._wire.spare_key`: the limits fixed before a call arrives).
A call takes an idle spare of its key or asks the worker for one and waits;
:meth:`SparePool.hand_over` sends it the call and the call's pipe ends.

Standard library and asyncio only (no ``llf_host``).
"""

from __future__ import annotations

import array
import asyncio
import collections
import dataclasses
import socket
from collections.abc import Awaitable
from collections.abc import Callable
from typing import Any

__all__ = ["Key", "Spare", "SparePool"]

Key = tuple[float, int]

#: Idle spares kept per key; more (after bursts of concurrent calls) are let go.
SPARES_PER_KEY = 2


@dataclasses.dataclass
class Spare:
    """A child waiting for a call: its id at the worker and our end of its socket."""

    spare_id: int
    sock: socket.socket


class SparePool:
    """Idle spares and the calls waiting for one, per key.

    :param ask: sends the worker a control message (``{"op": "spare", "key"}``).
    """

    def __init__(self, ask: Callable[[dict[str, Any]], Awaitable[None]]) -> None:
        self._ask = ask
        self._idle: dict[Key, collections.deque[Spare]] = {}
        self._waiters: dict[Key, collections.deque[asyncio.Future[Spare | None]]] = {}
        self._errors: dict[Key, str] = {}
        #: False once the worker is closing: arriving spares are let go.
        self.accepting = True

    @property
    def idle(self) -> int:
        """Spares waiting here for a call."""
        return sum(len(idle) for idle in self._idle.values())

    def error(self, key: Key) -> str | None:
        """Why the worker could not fork a spare for ``key`` last time, if it could not."""
        return self._errors.get(key)

    # -- what the worker reports -------------------------------------------------------
    def arrived(self, key: Key, spare: Spare) -> None:
        """A spare is ready: to the oldest call waiting for it, else idle (or let go)."""
        self._errors.pop(key, None)
        if self._answer(key, spare):
            return
        idle = self._idle.setdefault(key, collections.deque())
        if not self.accepting or len(idle) >= SPARES_PER_KEY:
            spare.sock.close()  # the spare sees EOF and exits
            return
        idle.append(spare)

    def failed(self, key: Key, message: str) -> None:
        """The worker could not fork a spare for ``key``: the oldest waiting call hears it."""
        self._errors[key] = message
        self._answer(key, None)

    def _answer(self, key: Key, spare: Spare | None) -> bool:
        waiters = self._waiters.get(key)
        while waiters:
            waiter = waiters.popleft()
            if not waiter.done():  # a cancelled call no longer waits
                waiter.set_result(spare)
                return True
        return False

    # -- what a call does --------------------------------------------------------------
    async def take(self, key: Key) -> Spare | None:
        """A spare prepared for ``key``: an idle one, or one asked for now (None: none
        could be made, see :meth:`error`)."""
        idle = self._idle.get(key)
        if idle:
            return idle.popleft()
        waiter: asyncio.Future[Spare | None] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(key, collections.deque()).append(waiter)
        await self._ask({"op": "spare", "key": list(key)})
        try:
            return await waiter
        except asyncio.CancelledError:
            spare = waiter.result() if waiter.done() and not waiter.cancelled() else None
            if spare is not None:
                self.arrived(key, spare)  # it came as we were cancelled: keep it
            raise

    @staticmethod
    async def hand_over(spare: Spare, data: bytes, fds: tuple[int, ...]) -> None:
        """Send the call (and its pipe ends) to the spare; OSError if it is gone."""
        loop = asyncio.get_running_loop()
        sock = spare.sock
        ancillary = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds))]
        while True:
            try:
                sent = sock.sendmsg([data], ancillary)
                break
            except BlockingIOError:
                await _writable(sock)
        if sent < len(data):
            await loop.sock_sendall(sock, data[sent:])

    def close(self) -> None:
        """Let every idle spare go; calls still waiting get None."""
        self.accepting = False
        for idle in self._idle.values():
            for spare in idle:
                spare.sock.close()
        self._idle.clear()
        for waiters in self._waiters.values():
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(None)
        self._waiters.clear()


async def _writable(sock: socket.socket) -> None:
    loop = asyncio.get_running_loop()
    ready: asyncio.Future[None] = loop.create_future()

    def wake() -> None:
        if not ready.done():
            ready.set_result(None)

    loop.add_writer(sock.fileno(), wake)
    try:
        await ready
    finally:
        loop.remove_writer(sock.fileno())
