"""Spare children: forked and confined before a call arrives, one call each.

These drive :class:`llf_sandbox.Worker` directly, with every layer the machine
offers, and look at the real process tree under the worker.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import pytest

from llf_sandbox import Limits
from llf_sandbox import Worker
from llf_sandbox import WorkerSpec
from llf_sandbox.probe import probe

TOOLS = """
import os
import time


def add(a, b):
    return {"sum": a + b}


def fill(mb):
    with open("fill.bin", "wb") as handle:
        for _ in range(mb):
            handle.write(b"x" * (1024 * 1024))
    return os.path.getsize("fill.bin")


def touch(name):
    with open(name, "w"):
        pass
    return sorted(os.listdir("."))


def nap(seconds):
    time.sleep(seconds)
    return seconds


def fds():
    import fcntl

    found = []
    for fd in range(1024):
        try:
            flags = fcntl.fcntl(fd, fcntl.F_GETFD)
        except OSError:
            continue
        found.append([fd, bool(flags & fcntl.FD_CLOEXEC)])
    return {"fds": found, "stdin": os.read(0, 16).decode()}
"""

LIMITS = Limits(timeout_s=20)


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children", encoding="ascii") as handle:
            return [int(p) for p in handle.read().split()]
    except OSError:
        return []


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
            state = handle.read().rpartition(")")[2].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def idle_children(worker: Worker) -> list[int]:
    """Live children of the process that forks the calls (no call is running here)."""
    assert worker.pid is not None and worker.info is not None
    forker = worker.pid
    if worker.info.layers.get("worker_pid1"):
        # Unprivileged: the forking process is the worker's only child (pid 1 of its own).
        (forker,) = _children(worker.pid)
    return [pid for pid in _children(forker) if _alive(pid)]


async def eventually(check, timeout: float = 10.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        await asyncio.sleep(0.02)


def make_spec(tmp_path: Path, **options: object) -> WorkerSpec:
    plugin = tmp_path / "plugin"
    plugin.mkdir(exist_ok=True)
    (plugin / "tools.py").write_text(TOOLS)
    cgroup = probe().cgroup_parent
    name = f"spares-{os.getpid()}-{tmp_path.name}"
    return WorkerSpec(
        plugin=name,
        functions={
            ref: ("_llf_tools.spares.tools", ref) for ref in ("add", "fill", "touch", "nap", "fds")
        },
        packages={"_llf_tools.spares": [str(plugin)]},
        plugin_paths=[str(plugin)],
        runtime_dir=str(tmp_path / "runtime"),
        cgroup_root=f"{cgroup}/llf-sandbox/{name}" if cgroup else None,
        **options,  # type: ignore[arg-type]
    )


@pytest.fixture
async def worker(tmp_path):
    worker = Worker(make_spec(tmp_path, spare_limits=LIMITS))
    await worker.start()
    yield worker
    await worker.aclose()


async def test_a_spare_waits_before_the_first_call_and_a_new_one_after_it(worker):
    first = await eventually(lambda: idle_children(worker))
    assert len(first) == 1

    outcome = await worker.call("add", {"a": 2, "b": 3}, LIMITS)

    assert outcome.ok, outcome
    assert outcome.result == {"sum": 5}
    # The first spare ran the call and is gone; its successor waits.
    after = await eventually(lambda: [p for p in idle_children(worker) if p not in first])
    assert len(after) == 1
    assert not _alive(first[0])


async def test_each_call_gets_the_working_directory_size_of_its_own_limits(worker):
    small = Limits(timeout_s=20, workdir_mb=2)
    large = Limits(timeout_s=20, workdir_mb=16)

    # Alternate between limits: a spare made for one size never serves the other.
    for _ in range(2):
        too_big = await worker.call("fill", {"mb": 4}, small)
        assert too_big.status == "resource_limit", too_big
        assert too_big.limits_hit == ["workdir_mb"]
        fits = await worker.call("fill", {"mb": 4}, large)
        assert fits.ok, fits
        assert fits.result == 4 * 1024 * 1024


async def test_every_call_starts_in_an_empty_working_directory(worker):
    assert (await worker.call("touch", {"name": "first"}, LIMITS)).result == ["first"]
    assert (await worker.call("touch", {"name": "second"}, LIMITS)).result == ["second"]


async def test_a_call_holds_only_its_stdio_and_its_result_channel(worker):
    # Nothing of the worker or of the spare's hand-over survives: no control
    # socket, no spare socket, no cgroup or Landlock fd; fd 3 closes on exec.
    outcome = await worker.call("fds", {}, LIMITS)

    assert outcome.ok, outcome
    assert outcome.result == {
        "fds": [[0, False], [1, False], [2, False], [3, True]],
        "stdin": "",
    }


async def test_a_spare_killed_while_waiting_is_replaced(worker):
    (spare,) = await eventually(lambda: idle_children(worker))
    os.kill(spare, signal.SIGKILL)
    assert await eventually(lambda: not _alive(spare))

    outcome = await worker.call("add", {"a": 1, "b": 1}, LIMITS)

    assert outcome.ok, outcome
    assert outcome.result == {"sum": 2}


async def test_without_prefork_nothing_waits_between_calls(tmp_path):
    worker = Worker(make_spec(tmp_path, prefork=False, spare_limits=LIMITS))
    await worker.start()
    try:
        for n in range(3):
            outcome = await worker.call("add", {"a": n, "b": 1}, LIMITS)
            assert outcome.ok, outcome
            assert outcome.result == {"sum": n + 1}
            assert await eventually(lambda: not idle_children(worker))
    finally:
        await worker.aclose()


async def test_after_a_burst_of_concurrent_calls_few_spares_stay(worker):
    outcomes = await asyncio.gather(
        *(worker.call("nap", {"seconds": 0.3}, LIMITS) for _ in range(6))
    )

    assert all(o.ok for o in outcomes), outcomes
    # Each call asked for a spare; the extras are let go once the burst is over.
    assert await eventually(lambda: 1 <= len(idle_children(worker)) <= 2)


async def test_closing_the_worker_ends_its_spares(tmp_path):
    worker = Worker(make_spec(tmp_path, spare_limits=LIMITS))
    await worker.start()
    (spare,) = await eventually(lambda: idle_children(worker))

    await worker.aclose()

    assert await eventually(lambda: not _alive(spare))
