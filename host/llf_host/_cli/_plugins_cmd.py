"""``llf-host plugins``: list, check and reload plugins."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import click
import msgspec

from ._state import CliState
from ._state import run_async

__all__ = ["plugins"]

_STATUS_COLOURS = {"ok": "green", "failed": "red", "disabled": "yellow"}


@click.group()
def plugins() -> None:
    """Inspect and manage plugins."""


def _contributes(summary: dict[str, Any]) -> str:
    parts = [f"{kind}: {', '.join(names)}" for kind, names in summary["contributes"].items()]
    return "; ".join(parts) or "-"


@plugins.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
def list_plugins(state: CliState, as_json: bool) -> None:
    """List every plugin found: status, source, what it contributes, errors."""

    async def run() -> list[dict[str, Any]]:
        async with state.make_host() as host:
            return [r.summary() for r in host.plugins.values()]

    summaries = run_async(run)
    if as_json:
        click.echo(json.dumps(summaries, indent=2))
        return
    if not summaries:
        click.echo("no plugins found")
        return
    for s in summaries:
        status = click.style(f"{s['status']:<8}", fg=_STATUS_COLOURS.get(s["status"]))
        click.echo(f"{status} {s['name']} {s['version']}  [{s['source']}]  {_contributes(s)}")
        if "error" in s:
            click.echo(f"         {s['error']['message']}")
            hint = s["error"].get("data", {}).get("hint")
            if hint:
                click.echo(f"         fix: {hint}")
        for warning in s.get("warnings", []):
            click.echo(f"         note: {warning}")


@plugins.command("check")
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def check(path: Path, as_json: bool) -> None:
    """Validate the plugin at PATH: manifest, hooks, schemas, permissions, import time.

    Exits 1 when an error is found (warnings alone exit 0).
    """
    from .._check import check_plugin

    report = run_async(lambda: check_plugin(path))
    if as_json:
        click.echo(msgspec.json.encode(report).decode())
    else:
        title = f"{report.name or path} {report.version or ''}".strip()
        click.echo(f"{title}  ({report.import_ms} ms to load)" if report.import_ms else title)
        for kind, names in report.contributes.items():
            click.echo(f"  {kind}: {', '.join(names)}")
        if report.hooks:
            click.echo(f"  hooks: {', '.join(report.hooks)}")
        for finding in report.findings:
            colour = {"error": "red", "warning": "yellow"}.get(finding.severity)
            where = f" ({finding.file}:{finding.line})" if finding.file and finding.line else ""
            click.secho(f"  {finding.severity}: {finding.message}{where}", fg=colour)
            if finding.fix:
                click.echo(f"    fix: {finding.fix}")
        click.echo("ok" if report.ok else "problems found")
    sys.exit(0 if report.ok else 1)


@plugins.command("path")
def path_cmd() -> None:
    """Print your drop-in plugins folder (created if missing).

    Copy a plugin folder there to install it: `cp -r my_tool "$(llf-host plugins path)"`.
    A running `llf-host serve` picks it up without a restart.
    """
    from .._paths import HostPaths

    paths = HostPaths.from_env()
    click.echo(str(paths.ensure(paths.plugins_dir)))


@plugins.command("reload")
@click.argument("name")
@click.pass_obj
def reload_cmd(state: CliState, name: str) -> None:
    """Validate plugin NAME's current files and signal running hosts to reload it.

    Hosts started with `llf-host serve` watch their plugin folders; this command
    checks the new version first (so you see errors here, with file and line) and
    then touches the plugin's files so every watching host reloads it. A client can
    also reload directly with the `plugins/reload` protocol method.
    """
    from .._check import check_plugin

    async def locate() -> str | None:
        host = state.make_host()
        for candidate in host.discover():
            if candidate.name == name and candidate.source != "entrypoint":
                return str(candidate.location)
        return None

    location = run_async(locate)
    if location is None:
        click.secho(f"error: no drop-in plugin named {name!r}", fg="red", err=True)
        click.echo("  fix: run `llf-host plugins list` to see plugin names", err=True)
        sys.exit(1)
    report = run_async(lambda: check_plugin(Path(location)))
    for finding in report.findings:
        click.echo(f"{finding.severity}: {finding.message}", err=True)
    if not report.ok:
        click.echo("not reloaded: running hosts keep the last good version", err=True)
        sys.exit(1)
    target = Path(location)
    files = [target] if target.is_file() else [target / "plugin.toml"]
    for file in files:
        os.utime(file)
    click.echo(f"{name} is valid; watching hosts will reload it")
