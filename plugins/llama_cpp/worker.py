"""One thread per loaded model, with a priority queue in front of it.

A ``llama_cpp.Llama`` holds one context and one KV cache and is not safe to use
from two threads, so each loaded model gets a :class:`ModelWorker`: a thread
that creates the model, then runs jobs one at a time. Jobs are ordered by
priority (interactive chat before batch items), then by arrival. Results go back
to asyncio through the job's ``emit`` callable (``loop.call_soon_threadsafe``).
Cancellation is a flag the engine checks between tokens; a job cancelled while
still queued is skipped without running.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any
from typing import Generic
from typing import TypeVar
from typing import final

from llf_host import QueueFullError

__all__ = ["BATCH", "INTERACTIVE", "Job", "ModelWorker", "WorkerClosed"]

log = logging.getLogger("llf.plugin.llama_cpp")

S = TypeVar("S")

#: Job priorities: lower runs first.
INTERACTIVE = 0
BATCH = 10
_STOP_PRIORITY = 1_000


class WorkerClosed(RuntimeError):
    """The worker was unloaded between lookup and submit; look the model up again."""


@final
class Job:
    """One request for a worker: a payload, a way back, and a cancel flag."""

    __slots__ = ("cancel_event", "emit", "payload", "priority", "submitted_at")

    def __init__(
        self, payload: Any, emit: Callable[[object], None], priority: int = INTERACTIVE
    ) -> None:
        self.payload = payload
        self.emit = emit
        self.priority = priority
        self.cancel_event = threading.Event()
        self.submitted_at = time.perf_counter()

    @property
    def cancelled(self) -> bool:
        """True once the requester has gone away."""
        return self.cancel_event.is_set()

    def cancel(self) -> None:
        """Stop this job at the next token (or skip it if it has not started)."""
        self.cancel_event.set()


def asyncio_emitter(
    loop: asyncio.AbstractEventLoop, sink: asyncio.Queue[object]
) -> Callable[[object], None]:
    """An ``emit`` that hands items to ``sink`` on ``loop`` from any thread."""

    def emit(item: object) -> None:
        try:
            loop.call_soon_threadsafe(sink.put_nowait, item)
        except RuntimeError:
            # The loop is closed: nobody is listening any more.
            pass

    return emit


@final
class ModelWorker(Generic[S]):
    """A thread that owns one loaded model and runs its jobs in order.

    :param load: builds the model state (runs in the worker thread).
    :param run: runs one job against the state (in the worker thread).
    :param release: frees the state when the worker stops.
    """

    def __init__(
        self,
        name: str,
        *,
        load: Callable[[], S],
        run: Callable[[S, Job], None],
        release: Callable[[S], None],
        max_queue: int = 64,
    ) -> None:
        self.name = name
        self._load = load
        self._run = run
        self._release = release
        self._max_queue = max_queue
        self._queue: queue.PriorityQueue[tuple[int, int, Job | None]] = queue.PriorityQueue()
        self._seq = itertools.count()
        self._pending = 0
        self._pending_lock = threading.Lock()
        self._closing = False
        self._thread = threading.Thread(target=self._main, name=f"llama_cpp:{name}", daemon=True)
        self._ready: asyncio.Future[S] | None = None
        self._stopped: asyncio.Future[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        #: The loaded state, once ready (read-only outside the worker thread).
        self.state: S | None = None
        #: Jobs run so far.
        self.jobs_done = 0
        self.last_used = time.monotonic()

    # -- lifecycle -----------------------------------------------------------------
    def start(self) -> asyncio.Future[S]:
        """Start the thread; the returned future resolves once the model is loaded."""
        self._loop = asyncio.get_running_loop()
        self._ready = self._loop.create_future()
        self._stopped = self._loop.create_future()
        self._thread.start()
        return self._ready

    def _resolve(self, future: asyncio.Future[Any] | None, result: Any, error: bool) -> None:
        if future is None or self._loop is None:
            return

        def settle() -> None:
            if future.done():
                return
            if error:
                future.set_exception(result)
            else:
                future.set_result(result)

        try:
            self._loop.call_soon_threadsafe(settle)
        except RuntimeError:
            pass

    def _main(self) -> None:
        try:
            state = self._load()
        except BaseException as exc:  # noqa: BLE001 - reported to the requester
            self._resolve(self._ready, exc, error=True)
            self._resolve(self._stopped, None, error=False)
            return
        self.state = state
        self._resolve(self._ready, state, error=False)
        try:
            while True:
                _prio, _seq, job = self._queue.get()
                if job is None:
                    break
                try:
                    if not job.cancelled:
                        self._run(state, job)
                except BaseException as exc:
                    log.debug("job on %s failed", self.name, exc_info=True)
                    job.emit(exc)
                finally:
                    self.jobs_done += 1
                    self.last_used = time.monotonic()
                    with self._pending_lock:
                        self._pending -= 1
        finally:
            self.state = None
            try:
                self._release(state)
            except Exception:
                log.exception("releasing model %s failed", self.name)
            self._resolve(self._stopped, None, error=False)

    # -- jobs ------------------------------------------------------------------------
    @property
    def pending(self) -> int:
        """Jobs queued or running."""
        return self._pending

    @property
    def busy(self) -> bool:
        """True while a job is queued or running."""
        return self._pending > 0

    def submit(self, job: Job) -> None:
        """Queue ``job``; raise :class:`QueueFullError` when too many are waiting."""
        with self._pending_lock:
            if self._closing:
                raise WorkerClosed(self.name)
            if self._pending >= self._max_queue:
                raise QueueFullError(
                    f"llama_cpp/{self.name} already has {self._pending} requests queued",
                    hint="wait for running requests to finish, or raise max_queue in "
                    "[plugins.llama_cpp]",
                    model=f"llama_cpp/{self.name}",
                    limit=self._max_queue,
                )
            self._pending += 1
        self.last_used = time.monotonic()
        self._queue.put((job.priority, next(self._seq), job))

    def close(self) -> None:
        """Accept no new jobs; the thread frees the model after the queued ones."""
        with self._pending_lock:
            if self._closing:
                return
            self._closing = True
        self._queue.put((_STOP_PRIORITY, next(self._seq), None))

    async def wait_closed(self) -> None:
        """Wait until the thread has released the model."""
        if self._stopped is not None:
            await asyncio.shield(self._stopped)
