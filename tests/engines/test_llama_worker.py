"""The per-model worker thread: ordering, cancellation, queue limit, shutdown.

These run real threads with a small pure-Python "model" (a list the jobs append
to), so they need no engine.
"""

from __future__ import annotations

import asyncio
import threading

import pytest

from llf_host import QueueFullError
from tests.engines.conftest import LLAMA_PLUGIN
from tests.engines.plugin_modules import load_plugin_module

worker_mod = load_plugin_module(LLAMA_PLUGIN, "worker")


class Recorder:
    """State of the fake model: which jobs ran, and a gate that holds the first one."""

    def __init__(self) -> None:
        self.ran: list[str] = []
        self.gate = threading.Event()
        self.released = threading.Event()
        self.thread: threading.Thread | None = None


def run(state: Recorder, job) -> None:
    state.thread = threading.current_thread()
    if job.payload == "hold":
        state.gate.wait(timeout=10)
    state.ran.append(job.payload)
    job.emit(job.payload)


def make_worker(state: Recorder, max_queue: int = 8):
    return worker_mod.ModelWorker(
        "fake", load=lambda: state, run=run, release=lambda s: s.released.set(), max_queue=max_queue
    )


def job(payload: str, sink: list, priority: int = 0):
    return worker_mod.Job(payload, sink.append, priority)


async def _wait_for(predicate, limit: float = 10.0) -> None:
    for _ in range(int(limit / 0.01)):
        if predicate():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not reached")


async def test_jobs_run_on_the_worker_thread_interactive_before_batch():
    state = Recorder()
    worker = make_worker(state)
    assert await worker.start() is state
    out: list = []
    worker.submit(job("hold", out))
    await _wait_for(lambda: state.thread is not None)
    worker.submit(job("batch-1", out, worker_mod.BATCH))
    worker.submit(job("batch-2", out, worker_mod.BATCH))
    worker.submit(job("chat", out, worker_mod.INTERACTIVE))
    state.gate.set()
    await _wait_for(lambda: len(state.ran) == 4)
    assert state.ran == ["hold", "chat", "batch-1", "batch-2"]
    assert state.thread is not threading.current_thread()
    worker.close()
    await worker.wait_closed()
    assert state.released.is_set()


async def test_a_job_cancelled_while_queued_never_runs():
    state = Recorder()
    worker = make_worker(state)
    await worker.start()
    out: list = []
    worker.submit(job("hold", out))
    queued = job("skipped", out)
    worker.submit(queued)
    queued.cancel()
    worker.submit(job("after", out))
    state.gate.set()
    await _wait_for(lambda: worker.pending == 0)
    assert state.ran == ["hold", "after"]
    worker.close()
    await worker.wait_closed()


async def test_queue_limit_and_closed_worker():
    state = Recorder()
    worker = make_worker(state, max_queue=2)
    await worker.start()
    out: list = []
    worker.submit(job("hold", out))
    worker.submit(job("second", out))
    with pytest.raises(QueueFullError) as caught:
        worker.submit(job("third", out))
    assert caught.value.data["limit"] == 2
    worker.close()
    with pytest.raises(worker_mod.WorkerClosed):
        worker.submit(job("late", out))
    state.gate.set()
    await worker.wait_closed()
    assert state.ran == ["hold", "second"]
    assert state.released.is_set()


async def test_a_failing_load_is_reported_to_the_waiter():
    def boom() -> Recorder:
        raise RuntimeError("no such file")

    worker = worker_mod.ModelWorker("bad", load=boom, run=run, release=lambda s: None)
    with pytest.raises(RuntimeError, match="no such file"):
        await worker.start()
    await worker.wait_closed()


async def test_asyncio_emitter_delivers_across_threads():
    loop = asyncio.get_running_loop()
    sink: asyncio.Queue = asyncio.Queue()
    emit = worker_mod.asyncio_emitter(loop, sink)
    thread = threading.Thread(target=lambda: [emit(i) for i in range(5)])
    thread.start()
    got = [await asyncio.wait_for(sink.get(), 10) for _ in range(5)]
    thread.join()
    assert got == [0, 1, 2, 3, 4]
