"""``llf-host new KIND NAME``: scaffold a plugin with passing tests."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from .._errors import LLMError
from ._state import fail

__all__ = ["new"]

_KINDS = ["provider", "tool", "memory", "exporter", "auditor"]


@click.command()
@click.argument("kind", type=click.Choice(_KINDS), required=False)
@click.argument("name", required=False)
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path(),
    show_default=True,
    help="Where to create the plugin.",
)
@click.option("--package", is_flag=True, help="A pip-installable distribution with an entry point.")
@click.option("--description", help="One line describing the plugin.")
@click.option("--force", is_flag=True, help="Overwrite existing files.")
def new(
    kind: str | None,
    name: str | None,
    directory: Path,
    package: bool,
    description: str | None,
    force: bool,
) -> None:
    """Create a new plugin of KIND (provider, tool, memory, exporter, auditor) called NAME.

    The plugin works as generated and its tests pass (`python -m pytest` in the new
    folder). On a terminal, missing arguments are asked for; otherwise they are
    required.
    """
    from .._scaffold import generate
    from .._scaffold import validate_name

    interactive = sys.stdin.isatty()
    if kind is None:
        if not interactive:
            raise click.UsageError("KIND is required (provider, tool, memory, exporter, auditor)")
        kind = click.prompt("Kind", type=click.Choice(_KINDS), default="tool")
    if name is None:
        if not interactive:
            raise click.UsageError("NAME is required")
        while True:
            name = click.prompt("Name (lowercase, digits, - or _)")
            try:
                validate_name(name)
                break
            except LLMError as exc:
                click.secho(f"  {exc.message}: {exc.hint}", fg="red")
        if description is None:
            description = click.prompt("Description", default="", show_default=False) or None
    try:
        root, files = generate(
            kind, name, directory, package=package, force=force, description=description
        )
    except LLMError as exc:
        fail(exc)
        return
    click.echo(f"created {kind} plugin {name!r} in {root}")
    for path in files:
        click.echo(f"  {path.relative_to(root)}")
    click.echo()
    click.echo("next:")
    click.echo(f"  cd {root} && python -m pytest")
    if package:
        click.echo("  pip install -e .   # then `llf-host plugins list` shows it")
    else:
        click.echo(f"  llf-host --plugins-dir {root.parent} plugins list")
