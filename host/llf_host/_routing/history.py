"""Usage records read back from the memory backend, for ``llf-host stats``.

The router's own metrics live in memory and vanish with the process; answers
stored in conversations (``chat/complete`` with a ``conversation_id``) keep
their model, usage, timings and cost in the memory backend. This module turns
those stored assistant messages into :class:`UsageRecord` values over a time
window. The route rule is read from the message's ``metadata["route"]`` when
the memory feature stored it, else reported as ``"(not recorded)"``.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING
from typing import Any

from .._errors import LLMError
from .._errors import NotAvailableError
from .._memory_contract import MemoryBackend
from .._memory_contract import StoredMessage
from .metrics import UsageRecord

if TYPE_CHECKING:
    from .._host import Host

__all__ = ["records_from_memory", "usage_record"]

log = logging.getLogger("llf.routing")

NOT_RECORDED = "(not recorded)"
_PAGE = 200


def _rule(metadata: dict[str, Any]) -> str:
    route = metadata.get("route")
    if isinstance(route, dict):
        rule = route.get("rule")
        return str(rule) if rule else NOT_RECORDED
    return str(route) if route else NOT_RECORDED


def usage_record(stored: StoredMessage) -> UsageRecord | None:
    """The usage record of one stored assistant answer (None for other messages)."""
    if stored.message.role != "assistant" or not stored.model:
        return None
    usage = stored.usage
    timings = stored.timings
    cost = stored.cost
    return UsageRecord(
        time=stored.created_at,
        model=stored.model,
        rule=_rule(stored.metadata),
        prompt_tokens=usage.prompt_tokens if usage else None,
        completion_tokens=usage.completion_tokens if usage else None,
        cost=cost,
        cost_state="unknown" if cost is None else ("free" if cost == 0 else "priced"),
        total_ms=timings.total_ms if timings else None,
        ttft_ms=timings.ttft_ms if timings else None,
    )


async def _backend(host: Host) -> MemoryBackend | None:
    from .._memory import memory_service

    if not host.registry.memory_backends:
        return None
    try:
        return await memory_service(host).backend()
    except (LLMError, TypeError) as exc:
        log.warning("memory backend unavailable for stats: %s", exc)
        return None


async def records_from_memory(
    host: Host, since: float | None, *, max_conversations: int = 10_000
) -> list[UsageRecord] | None:
    """Usage records of stored answers since ``since``; None when no backend is loaded."""
    backend = await _backend(host)
    if backend is None:
        return None
    records: list[UsageRecord] = []
    offset = 0
    try:
        while offset < max_conversations:
            page = await backend.list_conversations(limit=_PAGE, offset=offset)
            if not page:
                break
            for conversation in page:
                if (
                    since is not None
                    and conversation.updated_at
                    and conversation.updated_at < since
                ):
                    return records  # newest first: the rest are older
                for stored in await backend.tree(conversation.id):
                    record = usage_record(stored)
                    if record is not None and (since is None or record.time >= since):
                        records.append(record)
            offset += len(page)
    except LLMError as exc:
        raise NotAvailableError(
            f"could not read usage from the memory backend: {exc.message}",
            hint="check the memory backend (llf-host doctor), or use --source router",
        ) from exc
    return records
