"""Usage records and their summary: requests, tokens, cost, latency percentiles.

The router keeps one :class:`UsageRecord` per routed request in a bounded,
in-memory :class:`MetricsLog`. :func:`summarize` turns any list of records
(from that log or from the memory backend) into per-model and per-route
figures over a time window; ``stats/get`` and ``llf-host stats`` print it.
"""

from __future__ import annotations

import math
import re
import time
from collections import deque
from collections.abc import Iterable
from typing import Any
from typing import final

import msgspec

__all__ = ["MetricsLog", "UsageRecord", "parse_since", "percentile", "summarize"]


class UsageRecord(msgspec.Struct, omit_defaults=True):
    """One routed request, as recorded when it finished (or failed)."""

    time: float
    model: str
    rule: str = "direct"
    ok: bool = True
    error: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cost: float | None = None
    cost_state: str = "unknown"
    total_ms: float | None = None
    ttft_ms: float | None = None
    fallbacks: int = 0
    budget: str | None = None


@final
class MetricsLog:
    """The last ``max_records`` usage records, oldest first."""

    def __init__(self, max_records: int = 10_000) -> None:
        self._records: deque[UsageRecord] = deque(maxlen=max_records)

    def add(self, record: UsageRecord) -> None:
        """Append one record (the oldest is dropped when full)."""
        self._records.append(record)

    def since(self, start: float | None) -> list[UsageRecord]:
        """Records that finished at or after ``start`` (epoch seconds; all when None)."""
        if start is None:
            return list(self._records)
        return [r for r in self._records if r.time >= start]

    def __len__(self) -> int:
        return len(self._records)


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_SINCE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$")


def parse_since(value: str | float | int | None, *, now: float | None = None) -> float | None:
    """Turn ``"1h"``, ``"30m"``, ``"2d"`` or seconds into an epoch start time.

    ``None`` means "since the beginning". Raises ``ValueError`` for other text.
    """
    if value is None:
        return None
    now = time.time() if now is None else now
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        match = _SINCE.match(value)
        if match is None:
            raise ValueError(
                f"cannot read {value!r} as a time window; use e.g. 90s, 30m, 1h, 2d or 1w"
            )
        seconds = float(match.group(1)) * _UNITS[match.group(2) or "s"]
    return now - seconds


def percentile(values: list[float], q: float) -> float | None:
    """The ``q``-th percentile (0..100) by linear interpolation; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def _group(records: list[UsageRecord]) -> dict[str, Any]:
    latencies = [r.total_ms for r in records if r.ok and r.total_ms is not None]
    ttfts = [r.ttft_ms for r in records if r.ok and r.ttft_ms is not None]
    costs = [r.cost for r in records if r.cost is not None]

    def pct(values: list[float]) -> dict[str, float | None]:
        return {
            f"p{q}": None if (v := percentile(values, q)) is None else round(v, 2)
            for q in (50, 90, 99)
        }

    errors: dict[str, int] = {}
    for r in records:
        if not r.ok:
            errors[r.error or "other"] = errors.get(r.error or "other", 0) + 1
    return {
        "requests": len(records),
        "errors": sum(errors.values()),
        "errors_by_kind": errors,
        "prompt_tokens": sum(r.prompt_tokens or 0 for r in records),
        "completion_tokens": sum(r.completion_tokens or 0 for r in records),
        "cost": round(sum(costs), 8),
        "unpriced_requests": sum(1 for r in records if r.ok and r.cost_state == "unknown"),
        "fallbacks": sum(r.fallbacks for r in records),
        "latency_ms": pct(latencies),
        "ttft_ms": pct(ttfts),
    }


def summarize(
    records: Iterable[UsageRecord], *, since: float | None = None, source: str = "router"
) -> dict[str, Any]:
    """Totals, then the same figures per model and per route (rule)."""
    chosen = [r for r in records if since is None or r.time >= since]
    by_model: dict[str, list[UsageRecord]] = {}
    by_route: dict[str, list[UsageRecord]] = {}
    for record in chosen:
        by_model.setdefault(record.model, []).append(record)
        by_route.setdefault(record.rule, []).append(record)
    return {
        "source": source,
        "since": since,
        "until": time.time(),
        "total": _group(chosen),
        "by_model": {k: _group(v) for k, v in sorted(by_model.items())},
        "by_route": {k: _group(v) for k, v in sorted(by_route.items())},
    }
