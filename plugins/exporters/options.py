"""Export options: what to include, which messages, and per-format settings.

Options arrive as a plain dict (from the CLI or the protocol). Unknown keys and
wrong types are errors that name the option, so a typo never silently exports
more than the user meant. Defaults depend on the format: JSON is lossless by
default (every branch, metadata included); the readable formats show the
current branch without metadata.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any
from typing import Literal

import msgspec

from llf_host import ConfigError

Branch = Literal["current", "all"]
Highlight = Literal["auto", "pygments", "builtin", "none"]


class ExportOptions(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """The options every built-in exporter accepts (see docs/exporters.md)."""

    include_system: bool = True
    include_timestamps: bool = True
    include_tool_calls: bool = True
    include_metadata: bool | None = None
    since: float | str | None = None
    until: float | str | None = None
    branch: Branch | None = None
    title: str | None = None
    highlight: Highlight = "auto"
    indent: int = 2
    font: str | None = None


class ResolvedOptions(msgspec.Struct, frozen=True):
    """Options with every default filled in for one format; times as epoch seconds."""

    include_system: bool
    include_timestamps: bool
    include_tool_calls: bool
    include_metadata: bool
    since: float | None
    until: float | None
    branch: Branch
    title: str | None
    highlight: Highlight
    indent: int
    font: str | None

    @property
    def has_date_range(self) -> bool:
        """True when ``since`` or ``until`` limits the messages."""
        return self.since is not None or self.until is not None

    def filters(self) -> dict[str, Any]:
        """The options that decide which content is exported (echoed in JSON exports)."""
        out: dict[str, Any] = {
            "branch": self.branch,
            "include_system": self.include_system,
            "include_timestamps": self.include_timestamps,
            "include_tool_calls": self.include_tool_calls,
            "include_metadata": self.include_metadata,
        }
        if self.since is not None:
            out["since"] = self.since
        if self.until is not None:
            out["until"] = self.until
        return out


def _bad(option: str, problem: str, fix: str) -> ConfigError:
    return ConfigError(f"export option {option!r} {problem}", hint=fix, option=option)


def parse_time(value: float | str | None, option: str, *, end_of_day: bool = False) -> float | None:
    """Epoch seconds from a number or an ISO 8601 date/date-time (naive means UTC).

    A bare date used as ``until`` means "through the end of that day".
    """
    if value is None:
        return None
    if isinstance(value, int | float):
        return float(value)
    text = value.strip()
    try:
        if len(text) == 10:
            day = dt.date.fromisoformat(text)
            start = dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)
            if end_of_day:
                return (start + dt.timedelta(days=1)).timestamp() - 1e-6
            return start.timestamp()
        stamp = dt.datetime.fromisoformat(text)
    except ValueError:
        raise _bad(
            option,
            f"is not a date: {value!r}",
            "use epoch seconds or ISO 8601, e.g. 2024-05-01 or 2024-05-01T12:00:00Z",
        ) from None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=dt.UTC)
    return stamp.timestamp()


def resolve_options(raw: dict[str, Any] | None, *, lossless: bool) -> ResolvedOptions:
    """Validate ``raw`` and fill in the defaults (``lossless`` for JSON)."""
    try:
        opts = msgspec.convert(raw or {}, ExportOptions)
    except msgspec.ValidationError as exc:
        message = str(exc)
        found = re.search(r"unknown field `([^`]*)`|at `\$\.([^`]*)`", message)
        option = (found.group(1) or found.group(2)) if found else "options"
        known = ", ".join(ExportOptions.__struct_fields__)
        raise ConfigError(
            f"invalid export options: {message}",
            hint=f"known options: {known} (see docs/exporters.md)",
            option=option,
        ) from None
    since = parse_time(opts.since, "since")
    until = parse_time(opts.until, "until", end_of_day=True)
    if since is not None and until is not None and since > until:
        raise _bad("since", "is after 'until'", "swap the two dates")
    if not 0 <= opts.indent <= 8:
        raise _bad("indent", f"must be between 0 and 8, got {opts.indent}", "use 0 (compact) to 8")
    return ResolvedOptions(
        include_system=opts.include_system,
        include_timestamps=opts.include_timestamps,
        include_tool_calls=opts.include_tool_calls,
        include_metadata=lossless if opts.include_metadata is None else opts.include_metadata,
        since=since,
        until=until,
        branch=opts.branch or ("all" if lossless else "current"),
        title=opts.title,
        highlight=opts.highlight,
        indent=opts.indent,
        font=opts.font,
    )
