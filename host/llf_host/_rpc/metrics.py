"""Per-method request metrics in constant memory.

Latencies go into a fixed log-scale histogram (4 buckets per doubling, 1 µs to
~70 min), so percentiles are exact to within ~19 % of the value and memory does
not grow with the number of requests. Unknown method names are counted under one
``(unknown)`` entry, so a client cannot grow the table either.
"""

from __future__ import annotations

import math
from typing import Any
from typing import Final
from typing import final

__all__ = ["MethodStats", "Metrics"]

_BUCKETS_PER_DOUBLING: Final = 4
_BUCKETS: Final = 128
_SCALE: Final = _BUCKETS_PER_DOUBLING / math.log(2)
UNKNOWN_METHOD: Final = "(unknown)"


def _bucket(seconds: float) -> int:
    micros = seconds * 1e6
    if micros <= 1.0:
        return 0
    return min(int(math.log(micros) * _SCALE), _BUCKETS - 1)


def _bucket_value_ms(index: int) -> float:
    # Geometric middle of the bucket, in milliseconds.
    return float(2 ** ((index + 0.5) / _BUCKETS_PER_DOUBLING) / 1000)


@final
class MethodStats:
    """Counts, errors and a latency histogram for one method."""

    __slots__ = ("cancelled", "count", "errors", "histogram", "max_s", "total_s")

    def __init__(self) -> None:
        self.count = 0
        self.errors = 0
        self.cancelled = 0
        self.total_s = 0.0
        self.max_s = 0.0
        self.histogram = [0] * _BUCKETS

    def add(self, seconds: float, outcome: int) -> None:
        """Record one request; ``outcome`` is 0 ok, 1 error, 2 cancelled."""
        self.count += 1
        if outcome == 1:
            self.errors += 1
        elif outcome == 2:
            self.cancelled += 1
        self.total_s += seconds
        self.max_s = max(self.max_s, seconds)
        self.histogram[_bucket(seconds)] += 1

    def percentile_ms(self, fraction: float) -> float | None:
        """The latency below which ``fraction`` of the requests completed."""
        if not self.count:
            return None
        rank = max(1, math.ceil(fraction * self.count))
        seen = 0
        for index, n in enumerate(self.histogram):
            seen += n
            if seen >= rank:
                return round(min(_bucket_value_ms(index), self.max_s * 1000), 4)
        return round(self.max_s * 1000, 4)

    def summary(self) -> dict[str, Any]:
        """JSON-ready figures."""
        return {
            "count": self.count,
            "errors": self.errors,
            "cancelled": self.cancelled,
            "mean_ms": round(self.total_s * 1000 / self.count, 4) if self.count else None,
            "p50_ms": self.percentile_ms(0.5),
            "p99_ms": self.percentile_ms(0.99),
            "max_ms": round(self.max_s * 1000, 4),
        }


@final
class Metrics:
    """Request metrics for every method the server knows."""

    def __init__(self, known_methods: frozenset[str] | None = None) -> None:
        self._known = known_methods
        self._stats: dict[str, MethodStats] = {}
        self.parse_errors = 0

    def record(self, method: str, seconds: float, outcome: int) -> None:
        """Record one answered request."""
        stats = self._stats.get(method)
        if stats is None:
            if self._known is not None and method not in self._known:
                method = UNKNOWN_METHOD
                stats = self._stats.get(method)
            if stats is None:
                stats = self._stats[method] = MethodStats()
        stats.add(seconds, outcome)

    def summary(self) -> dict[str, Any]:
        """Totals and per-method figures."""
        methods = {name: s.summary() for name, s in sorted(self._stats.items())}
        return {
            "requests": sum(s.count for s in self._stats.values()),
            "errors": sum(s.errors for s in self._stats.values()),
            "cancelled": sum(s.cancelled for s in self._stats.values()),
            "parse_errors": self.parse_errors,
            "methods": methods,
        }
