"""``llf-host doctor``: what works on this machine, and what to fix."""

from __future__ import annotations

import json
import sys

import click

from ._state import CliState
from ._state import run_async

__all__ = ["doctor"]

_MARKS = {True: ("ok", "green"), False: ("!!", "red"), None: ("--", None)}
_STATUS = {"ok": "green", "warning": "yellow", "error": "red"}


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
def doctor(state: CliState, as_json: bool) -> None:
    """Check the sandbox, the providers and the other features; print fixes."""
    from .._doctor import DoctorSection
    from .._doctor import run_sections

    async def run() -> list[DoctorSection]:
        async with state.make_host() as host:
            return await run_sections(host)

    sections = run_async(run)
    if as_json:
        click.echo(json.dumps([s.as_dict() for s in sections], indent=2, default=str))
    else:
        for section in sections:
            click.secho(f"{section.title}: {section.status}", fg=_STATUS[section.status], bold=True)
            for row in section.rows:
                text = f"{row.label}: {row.value}" if row.value else row.label
                if row.ok is None and not row.value:
                    click.echo(f"  {text}")  # a pre-formatted line
                    continue
                mark, colour = _MARKS[row.ok]
                click.echo("  " + click.style(f"[{mark}]", fg=colour) + f" {text}")
    if any(s.status == "error" for s in sections):
        sys.exit(1)
