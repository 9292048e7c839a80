"""The loaded models: one worker each, kept warm, least recently used evicted.

A model loads on first use (one load at a time per model, however many requests
ask for it) and stays loaded. After each load the pool adds up the estimated
memory of every loaded model (weights plus KV cache) and, while the total is
over the budget, unloads the least recently used other model. An unloaded
model's worker finishes the jobs already queued before it frees the memory.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections import OrderedDict
from collections.abc import Awaitable
from collections.abc import Callable
from typing import TYPE_CHECKING
from typing import Any
from typing import final

from .worker import ModelWorker

if TYPE_CHECKING:
    from .engine import LoadedModel
    from .engine import LoadSpec

__all__ = ["ModelPool", "default_budget_bytes", "total_memory_bytes"]

log = logging.getLogger("llf.plugin.llama_cpp")

#: Share of physical RAM loaded models may use when no budget is configured.
DEFAULT_BUDGET_SHARE = 0.75


def total_memory_bytes() -> int | None:
    """Physical RAM, or ``None`` when the platform does not say."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, ValueError, OSError):
        return None


def default_budget_bytes(memory_budget_mb: float | None) -> int | None:
    """The configured budget, else 75% of RAM (``None``: no limit known)."""
    if memory_budget_mb is not None:
        return int(memory_budget_mb * 2**20)
    total = total_memory_bytes()
    return int(total * DEFAULT_BUDGET_SHARE) if total else None


if TYPE_CHECKING:
    Worker = ModelWorker[LoadedModel]
else:
    Worker = ModelWorker


@final
class ModelPool:
    """Loaded models by name, in least-recently-used order."""

    def __init__(self, *, budget_bytes: int | None, max_queue: int) -> None:
        self.budget_bytes = budget_bytes
        self._max_queue = max_queue
        self._workers: OrderedDict[str, Worker] = OrderedDict()
        self._locks: dict[str, asyncio.Lock] = {}
        #: Names unloaded to stay within the budget, oldest first (for reports).
        self.evictions: list[str] = []
        self._retiring: list[Worker] = []

    def loaded(self) -> dict[str, Worker]:
        """Loaded models, least recently used first."""
        return dict(self._workers)

    def get(self, name: str) -> Worker | None:
        """The worker of ``name`` if it is loaded (marks it as used)."""
        worker = self._workers.get(name)
        if worker is not None:
            self._workers.move_to_end(name)
        return worker

    async def acquire(
        self, name: str, make_spec: Callable[[], Awaitable[LoadSpec]]
    ) -> tuple[Worker, float]:
        """The worker of ``name``, loading it if needed; also the load time in ms (0 if warm)."""
        worker = self.get(name)
        if worker is not None:
            return worker, 0.0
        lock = self._locks.setdefault(name, asyncio.Lock())
        async with lock:
            worker = self.get(name)
            if worker is not None:
                return worker, 0.0
            start = time.perf_counter()
            spec = await make_spec()
            worker = self._new_worker(name, spec)
            ready = worker.start()
            ready.add_done_callback(_consume_exception)
            try:
                await asyncio.shield(ready)
            except asyncio.CancelledError:
                worker.close()
                raise
            load_ms = (time.perf_counter() - start) * 1000
            self._workers[name] = worker
            self._enforce_budget(keep=name)
            return worker, load_ms

    def _new_worker(self, name: str, spec: LoadSpec) -> Worker:
        from .engine import load_model
        from .engine import release_model
        from .engine import run_job

        return ModelWorker(
            name,
            load=lambda: load_model(spec),
            run=run_job,
            release=release_model,
            max_queue=self._max_queue,
        )

    def _enforce_budget(self, keep: str) -> None:
        if self.budget_bytes is None:
            return
        total = sum(w.state.estimate_bytes for w in self._workers.values() if w.state)
        for name in list(self._workers):
            if total <= self.budget_bytes:
                break
            if name == keep:
                continue
            worker = self._workers.pop(name)
            if worker.state is not None:
                total -= worker.state.estimate_bytes
            worker.close()
            self._retiring.append(worker)
            self.evictions.append(name)
            log.info(
                "unloaded llama_cpp/%s to stay within the memory budget of %.0f MB",
                name,
                self.budget_bytes / 2**20,
            )
        if total > self.budget_bytes:
            log.warning(
                "llama_cpp/%s alone needs about %.0f MB, more than the memory budget of "
                "%.0f MB; it stays loaded (raise memory_budget_mb in [plugins.llama_cpp])",
                keep,
                total / 2**20,
                self.budget_bytes / 2**20,
            )

    async def unload(self, name: str) -> bool:
        """Unload ``name``; False if it was not loaded. Queued requests finish first."""
        worker = self._workers.pop(name, None)
        if worker is None:
            return False
        worker.close()
        await worker.wait_closed()
        return True

    async def aclose(self) -> None:
        """Unload every model."""
        workers = [*self._workers.values(), *self._retiring]
        self._workers.clear()
        self._retiring.clear()
        for worker in workers:
            worker.close()
        for worker in workers:
            await worker.wait_closed()


def _consume_exception(future: asyncio.Future[Any]) -> None:
    # Mark a failed load as seen even when its requester was cancelled.
    if not future.cancelled():
        future.exception()
