"""``llf-host plugins``: list, check and reload plugins."""

from __future__ import annotations

import json
from typing import Any

import click

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
        host = state.make_host()
        await host.start()
        try:
            return [r.summary() for r in host.plugins.values()]
        finally:
            await host.aclose()

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
