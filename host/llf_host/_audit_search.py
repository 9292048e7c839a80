"""Choosing audit records: by kind (with patterns), plugin, time range and text.

Used by ``llf-host audit search``; times accept ISO dates and times, epoch
seconds, or a duration ago (``30m``, ``2h``, ``7d``).
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import json
import re
import time
from dataclasses import dataclass
from typing import Any

from ._errors import ConfigError

__all__ = ["AuditFilter", "parse_when"]

_RELATIVE = re.compile(r"^(\d+(?:\.\d+)?)\s*([smhdw])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_when(text: str, *, option: str = "--since", now: float | None = None) -> float:
    """Epoch seconds from ``2024-05-01``, ``2024-05-01T12:00Z``, epoch seconds or ``2h`` ago."""
    raw = text.strip()
    relative = _RELATIVE.match(raw)
    if relative:
        return (now or time.time()) - float(relative.group(1)) * _UNITS[relative.group(2)]
    try:
        return float(raw)
    except ValueError:
        pass
    try:
        stamp = dt.datetime.fromisoformat(raw)
    except ValueError:
        raise ConfigError(
            f"{option} {text!r} is not a time",
            hint="use 2024-05-01, 2024-05-01T12:00:00Z, epoch seconds, or 30m / 2h / 7d ago",
            option=option,
        ) from None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=dt.UTC)
    return stamp.timestamp()


@dataclass(frozen=True)
class AuditFilter:
    """Which records ``audit search`` shows; kinds may be glob patterns (``tool.*``)."""

    kinds: tuple[str, ...] = ()
    plugins: tuple[str, ...] = ()
    since: float | None = None
    until: float | None = None
    text: str | None = None

    def matches(self, record: dict[str, Any]) -> bool:
        """True when ``record`` passes every given condition."""
        kind = str(record.get("kind", ""))
        if self.kinds and not any(fnmatch.fnmatchcase(kind, k) for k in self.kinds):
            return False
        if self.plugins and record.get("plugin") not in self.plugins:
            return False
        when = record.get("time")
        if self.since is not None and (not isinstance(when, int | float) or when < self.since):
            return False
        if self.until is not None and (not isinstance(when, int | float) or when > self.until):
            return False
        if self.text is not None:
            blob = json.dumps(record.get("data", {}), ensure_ascii=False).lower()
            if self.text.lower() not in blob:
                return False
        return True
