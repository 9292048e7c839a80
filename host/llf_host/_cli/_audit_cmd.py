"""``llf-host audit``: check, follow and search the tamper-evident audit log.

::

    llf-host audit verify            # exit 1 and the line of every problem
    llf-host audit tail -n 50 -f
    llf-host audit search --kind 'plugin.*' --since 2h
"""

from __future__ import annotations

import datetime as dt
import json
import sys
import time
from collections import deque
from pathlib import Path
from typing import Any

import click

from .._errors import LLMError
from ._state import fail

__all__ = ["audit"]

_FOLLOW_POLL_S = 0.25


def _log_path(file: str | None) -> Path:
    if file:
        return Path(file).expanduser()
    from .._audit_log import default_log_path
    from .._config import load_config
    from .._paths import HostPaths

    paths = HostPaths.from_env()
    try:
        config = load_config(paths.config_file)
    except LLMError as exc:
        fail(exc)
        raise AssertionError("unreachable") from None
    return default_log_path(paths, config)


def _existing(path: Path) -> Path:
    if not path.is_file():
        fail(
            LLMError(
                f"no audit log at {path}",
                hint="the audit_log plugin writes it once the host has run; "
                "check `llf-host plugins list`, or pass --file",
                path=str(path),
            )
        )
    return path


_file_option = click.option(
    "--file",
    "file",
    type=click.Path(dir_okay=False),
    help="The log file (default: the audit_log plugin's).",
)
_json_option = click.option("--json", "as_json", is_flag=True, help="Print raw JSON records.")


def _format_time(epoch: Any) -> str:
    if not isinstance(epoch, int | float):
        return "?"
    stamp = dt.datetime.fromtimestamp(epoch, tz=dt.UTC)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}Z"


def format_record(record: dict[str, Any]) -> str:
    """One human-readable line: time, seq, kind, plugin, data."""
    data = record.get("data")
    fields = (
        " ".join(
            f"{k}={v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)}"
            for k, v in sorted(data.items())
        )
        if isinstance(data, dict)
        else ""
    )
    plugin = f" [{record['plugin']}]" if record.get("plugin") else ""
    session = f" session={record['session']}" if record.get("session") else ""
    return (
        f"{_format_time(record.get('time'))} #{record.get('seq', '?')} "
        f"{record.get('kind', '?')}{plugin}{session}  {fields}"
    ).rstrip()


def _emit(record: dict[str, Any], as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(record, ensure_ascii=False, sort_keys=True))
    else:
        click.echo(format_record(record))


@click.group()
def audit() -> None:
    """Check, follow and search the audit log (docs/audit.md)."""


@audit.command("path")
@_file_option
def audit_path(file: str | None) -> None:
    """Print where the audit log is."""
    click.echo(str(_log_path(file)))


@audit.command("verify")
@_file_option
@click.option("--json", "as_json", is_flag=True, help="Machine-readable report.")
def verify(file: str | None, as_json: bool) -> None:
    """Check the hash chain; exit 1 naming the line of every problem."""
    from .._audit_log import verify_log

    path = _existing(_log_path(file))
    try:
        report = verify_log(path)
    except OSError as exc:
        fail(LLMError(f"cannot read {path}: {exc}", hint="check its permissions"))
        return
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2))
        sys.exit(0 if report.ok else 1)
    for warning in report.warnings:
        click.secho(f"warning: {warning}", fg="yellow", err=True)
    if report.ok:
        click.echo(
            f"ok: {report.records} records, chain intact"
            f"{' up to the head' if report.head else ''} (last seq {report.last_seq}, "
            f"hash {report.last_hash[:16]}…) in {path}"
        )
        return
    click.secho(
        f"TAMPERED or damaged: {len(report.problems)} problem(s) in {path}", fg="red", err=True
    )
    for problem in report.problems:
        click.echo(str(problem))
    sys.exit(1)


def _follow(path: Path, offset: int, as_json: bool) -> None:
    pending = b""
    while True:
        with path.open("rb") as handle:
            handle.seek(offset)
            chunk = handle.read()
        if chunk:
            offset += len(chunk)
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                try:
                    record = json.loads(line)
                except ValueError:
                    continue
                if isinstance(record, dict):
                    _emit(record, as_json)
            sys.stdout.flush()
        time.sleep(_FOLLOW_POLL_S)


@audit.command("tail")
@_file_option
@_json_option
@click.option("-n", "--lines", "count", default=20, show_default=True, help="Records to show.")
@click.option("-f", "--follow", is_flag=True, help="Keep printing new records (Ctrl-C stops).")
def tail(file: str | None, as_json: bool, count: int, follow: bool) -> None:
    """Show the last records of the log."""
    from .._audit_log import read_records

    path = _existing(_log_path(file))
    size = path.stat().st_size
    last: deque[dict[str, Any]] = deque(maxlen=max(count, 0))
    for _line, record in read_records(path):
        last.append(record)
    for record in last:
        _emit(record, as_json)
    if follow:
        sys.stdout.flush()
        _follow(path, size, as_json)


@audit.command("search")
@_file_option
@_json_option
@click.option("--kind", "kinds", multiple=True, help="Event kind or pattern (tool.*). Repeatable.")
@click.option("--plugin", "plugins", multiple=True, help="Only events of this plugin. Repeatable.")
@click.option("--since", help="From this time: 2024-05-01, an ISO time, or 30m / 2h / 7d ago.")
@click.option("--until", help="Up to this time (same forms as --since).")
@click.option("--text", help="Only records whose data contains this text.")
@click.option("--limit", type=int, default=0, help="Show at most this many (the newest).")
def search(
    file: str | None,
    as_json: bool,
    kinds: tuple[str, ...],
    plugins: tuple[str, ...],
    since: str | None,
    until: str | None,
    text: str | None,
    limit: int,
) -> None:
    """Show the records matching every given condition, oldest first."""
    from .._audit_log import read_records
    from .._audit_search import AuditFilter
    from .._audit_search import parse_when

    path = _existing(_log_path(file))
    try:
        wanted = AuditFilter(
            kinds=kinds,
            plugins=plugins,
            since=parse_when(since, option="--since") if since else None,
            until=parse_when(until, option="--until") if until else None,
            text=text,
        )
    except LLMError as exc:
        fail(exc)
        return
    found: deque[dict[str, Any]] = deque(maxlen=limit if limit > 0 else None)
    for _line, record in read_records(path):
        if wanted.matches(record):
            found.append(record)
    for record in found:
        _emit(record, as_json)
    if not found and not as_json:
        click.echo("no matching records", err=True)
