"""The host-side pool of spare children, with real sockets standing in for spares."""

from __future__ import annotations

import asyncio
import os
import socket

import pytest

from llf_sandbox._spare_pool import SPARES_PER_KEY
from llf_sandbox._spare_pool import Spare
from llf_sandbox._spare_pool import SparePool

KEY = (128.0, 64)
OTHER = (4.0, 64)


class Worker:
    """Records what the pool asks the worker for; keeps the spares' far ends."""

    def __init__(self) -> None:
        self.asked: list[dict[str, object]] = []
        self.far_ends: dict[int, socket.socket] = {}
        self.near_ends: list[socket.socket] = []
        self._ids = 0

    async def ask(self, message: dict[str, object]) -> None:
        self.asked.append(message)

    def spare(self) -> Spare:
        self._ids += 1
        mine, theirs = socket.socketpair()
        mine.setblocking(False)
        self.far_ends[self._ids] = theirs
        self.near_ends.append(mine)
        return Spare(self._ids, mine)

    def let_go(self, spare: Spare) -> bool:
        """Whether the pool closed its end (the spare would see EOF and exit)."""
        return self.far_ends[spare.spare_id].recv(1) == b""


@pytest.fixture
def worker():
    made = Worker()
    yield made
    for sock in [*made.far_ends.values(), *made.near_ends]:
        sock.close()


async def test_an_idle_spare_is_taken_without_asking(worker):
    pool = SparePool(worker.ask)
    spare = worker.spare()
    pool.arrived(KEY, spare)

    assert pool.idle == 1
    assert await pool.take(KEY) is spare
    assert worker.asked == [] and pool.idle == 0


async def test_without_one_the_call_asks_and_waits_for_its_key(worker):
    pool = SparePool(worker.ask)
    taking = asyncio.ensure_future(pool.take(KEY))
    await asyncio.sleep(0)
    assert worker.asked == [{"op": "spare", "key": [128.0, 64]}]

    pool.arrived(OTHER, worker.spare())  # another key does not serve it
    assert not taking.done()
    mine = worker.spare()
    pool.arrived(KEY, mine)

    assert await taking is mine
    assert pool.idle == 1  # the other key's spare waits for its own calls


async def test_a_failed_fork_answers_the_waiting_call_with_the_reason(worker):
    pool = SparePool(worker.ask)
    taking = asyncio.ensure_future(pool.take(KEY))
    await asyncio.sleep(0)

    pool.failed(KEY, "cannot fork: out of memory")

    assert await taking is None
    assert pool.error(KEY) == "cannot fork: out of memory"
    pool.arrived(KEY, worker.spare())
    assert pool.error(KEY) is None


async def test_few_spares_are_kept_per_key_and_extras_are_let_go(worker):
    pool = SparePool(worker.ask)
    spares = [worker.spare() for _ in range(SPARES_PER_KEY + 2)]
    for spare in spares:
        pool.arrived(KEY, spare)

    assert pool.idle == SPARES_PER_KEY
    assert [worker.let_go(s) for s in spares[SPARES_PER_KEY:]] == [True, True]


async def test_a_spare_arriving_for_a_cancelled_call_is_kept(worker):
    pool = SparePool(worker.ask)
    taking = asyncio.ensure_future(pool.take(KEY))
    await asyncio.sleep(0)
    taking.cancel()
    with pytest.raises(asyncio.CancelledError):
        await taking

    spare = worker.spare()
    pool.arrived(KEY, spare)

    assert pool.idle == 1
    assert await pool.take(KEY) is spare


async def test_closing_lets_every_spare_go_and_wakes_waiting_calls(worker):
    pool = SparePool(worker.ask)
    idle = worker.spare()
    pool.arrived(KEY, idle)
    taking = asyncio.ensure_future(pool.take(OTHER))
    await asyncio.sleep(0)

    pool.close()

    assert await taking is None
    assert worker.let_go(idle)
    late = worker.spare()
    pool.arrived(KEY, late)
    assert worker.let_go(late) and pool.idle == 0


async def test_hand_over_sends_the_call_and_its_fds(worker):
    pool = SparePool(worker.ask)
    spare = worker.spare()
    read_end, write_end = os.pipe()
    try:
        await pool.hand_over(spare, b"the call", (write_end,))
        far = worker.far_ends[spare.spare_id]
        data, ancdata, _flags, _addr = far.recvmsg(64, socket.CMSG_SPACE(4))
        (received,) = [int.from_bytes(d[:4], "little") for _l, _t, d in ancdata]
        os.write(received, b"through")
        os.close(received)
    finally:
        os.close(write_end)
    assert data == b"the call"
    assert os.read(read_end, 16) == b"through"
    os.close(read_end)


async def test_handing_over_to_a_spare_that_died_raises(worker):
    pool = SparePool(worker.ask)
    spare = worker.spare()
    worker.far_ends.pop(spare.spare_id).close()  # the spare is gone

    with pytest.raises(OSError):
        await pool.hand_over(spare, b"the call", (0,))
