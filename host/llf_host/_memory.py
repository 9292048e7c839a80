"""The memory service: the host's one opened memory backend, and chat turns stored in it.

``memory_service(host)`` creates the service on first use and keeps it in
``host.services["memory"]``. It picks the backend named by ``[host]
memory_backend`` (the first one loaded otherwise), opens it once, re-opens the
new object after a plugin reload, guards every call (a failing backend is
reported against its plugin) and empties expired trash: at open, then every
``purge_interval_hours`` while the host runs. Settings, in ``[memory]``::

    [memory]
    trash_retention_days = 30     # purge trash items older than this
    auto_purge = true             # false: only `llf-host trash empty` purges
    purge_interval_hours = 6

:func:`prepare_conversation_turn` and :func:`record_assistant` let
``chat/complete`` continue a stored conversation: the client sends only the new
messages, the host appends them, builds the history for the provider and
stores the answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterator
from collections.abc import Sequence
from typing import TYPE_CHECKING
from typing import Any
from typing import final

import msgspec

from ._errors import ConfigError
from ._guard import call_guarded
from ._guard import guarded
from ._memory_contract import MemoryBackend
from ._memory_contract import StoredMessage
from ._types import ChatResult
from ._types import Message

if TYPE_CHECKING:
    from ._host import Host
    from ._registry import Entry

__all__ = [
    "ConversationTurn",
    "MemoryService",
    "MemorySettings",
    "memory_service",
    "prepare_conversation_turn",
    "record_assistant",
]

log = logging.getLogger("llf.memory")

SERVICE_NAME = "memory"
_DAY = 86400.0


class MemorySettings(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """The ``[memory]`` section."""

    trash_retention_days: float = 30.0
    auto_purge: bool = True
    purge_interval_hours: float = 6.0


def _settings(host: Host) -> MemorySettings:
    try:
        settings = msgspec.convert(host.config.section("memory"), MemorySettings)
    except msgspec.ValidationError as exc:
        raise ConfigError(
            f"{host.config.path or 'config'}: [memory] is invalid: {exc}",
            hint="valid keys: trash_retention_days (number), auto_purge (true/false), "
            "purge_interval_hours (number); see docs/memory.md",
            field="memory",
        ) from None
    if settings.trash_retention_days < 0 or settings.purge_interval_hours <= 0:
        raise ConfigError(
            f"{host.config.path or 'config'}: [memory] trash_retention_days must be >= 0 and "
            "purge_interval_hours > 0",
            hint="for example trash_retention_days = 30, purge_interval_hours = 6",
            field="memory",
        )
    return settings


@final
class MemoryService:
    """The memory backend in use, opened once, with calls guarded by its plugin's name."""

    def __init__(self, host: Host) -> None:
        self.host = host
        self.settings = _settings(host)
        self._entry: Entry[MemoryBackend] | None = None
        self._lock = asyncio.Lock()
        self._purge_task: asyncio.Task[None] | None = None

    @property
    def plugin(self) -> str:
        """The plugin that contributed the backend in use ("" before first use)."""
        return self._entry.plugin if self._entry else ""

    async def backend(self) -> MemoryBackend:
        """The configured backend, opened (once per backend object)."""
        entry = self.host.registry.memory_backend(self.host.config.host.memory_backend)
        if self._entry is not None and self._entry.obj is entry.obj:
            return entry.obj
        async with self._lock:
            if self._entry is None or self._entry.obj is not entry.obj:
                name = type(entry.obj).__name__
                await call_guarded(entry.plugin, f"{name}.open()", entry.obj.open)
                self._entry = entry
                log.debug("memory backend %r from %s opened", entry.key, entry.plugin)
                await self._after_open()
        return entry.obj

    @contextlib.contextmanager
    def guarded(self, what: str) -> Iterator[None]:
        """Report anything the backend raises inside the block against its plugin."""
        entry = self._entry
        if entry is None:
            yield
            return
        with guarded(entry.plugin, f"{type(entry.obj).__name__}.{what}()"):
            yield

    async def _after_open(self) -> None:
        if not self.settings.auto_purge:
            return
        try:
            await self.purge_expired()
        except Exception:
            log.exception("purging expired trash failed")
        if self._purge_task is None:
            self._purge_task = asyncio.get_running_loop().create_task(
                self._purge_loop(), name="llf-memory-purge"
            )

    async def _purge_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.purge_interval_hours * 3600)
            try:
                await self.purge_expired()
            except Exception:
                log.exception("purging expired trash failed")

    async def purge_expired(self) -> int:
        """Purge trash items older than the retention period; returns how many."""
        cutoff = time.time() - self.settings.trash_retention_days * _DAY
        return await self.purge(cutoff, reason="retention")

    async def purge(self, older_than: float | None, *, reason: str = "manual") -> int:
        """Purge trash items deleted before ``older_than`` (all when None), audited."""
        backend = await self.backend()
        with self.guarded("purge"):
            count = await backend.purge(older_than)
        if count:
            log.info("purged %d trash item(s) (%s)", count, reason)
        self.host.audit(
            "memory.purge", plugin=self.plugin, count=count, reason=reason, older_than=older_than
        )
        return count

    async def aclose(self) -> None:
        """Stop the purge loop. The backend itself is closed with its plugin."""
        task, self._purge_task = self._purge_task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def memory_service(host: Host) -> MemoryService:
    """The host's memory service, created on first use."""
    service = host.services.get(SERVICE_NAME)
    if service is None:
        service = MemoryService(host)
        host.services[SERVICE_NAME] = service
    if not isinstance(service, MemoryService):
        raise TypeError(f"host.services[{SERVICE_NAME!r}] holds {type(service).__name__}")
    return service


class ConversationTurn(msgspec.Struct):
    """A chat turn prepared from a stored conversation.

    ``messages`` is the history to send to the provider (root to the last new
    message); ``leaf_id`` is where the answer goes.
    """

    conversation_id: str
    messages: list[Message]
    leaf_id: str | None = None


async def prepare_conversation_turn(
    host: Host, conversation_id: str, new_messages: Sequence[Message]
) -> ConversationTurn:
    """Append ``new_messages`` to the conversation and return the history to send.

    The first new message goes under the conversation's current leaf, each next
    one under the previous. The new messages stay stored even if the model call
    fails afterwards (they were said).
    """
    service = memory_service(host)
    backend = await service.backend()
    leaf: str | None = None
    for message in new_messages:
        with service.guarded("append_message"):
            stored = await backend.append_message(conversation_id, message, parent_id=leaf)
        leaf = stored.id
    with service.guarded("history"):
        history = await backend.history(conversation_id, leaf)
    return ConversationTurn(
        conversation_id,
        [item.message for item in history],
        leaf_id=history[-1].id if history else None,
    )


async def record_assistant(
    host: Host,
    conversation_id: str,
    result: ChatResult,
    *,
    parent_id: str | None = None,
    metadata: dict[str, Any] | None = None,
) -> StoredMessage:
    """Store a model's answer (with model, usage, timings, cost) under ``parent_id``.

    ``parent_id`` defaults to the current leaf; pass the turn's ``leaf_id`` so
    concurrent turns on one conversation each answer their own message.
    """
    service = memory_service(host)
    backend = await service.backend()
    meta: dict[str, Any] = {
        k: v
        for k, v in {"provider": result.provider, "finish_reason": result.finish_reason}.items()
        if v is not None
    }
    if result.route:
        # Kept so `llf-host stats` can group stored answers by route rule.
        meta["route"] = {k: result.route[k] for k in ("rule", "served_by") if k in result.route}
    meta.update(metadata or {})
    with service.guarded("append_message"):
        return await backend.append_message(
            conversation_id,
            result.message,
            parent_id=parent_id,
            model=result.model,
            usage=result.usage,
            timings=result.timings,
            cost=result.cost,
            metadata=meta,
        )
