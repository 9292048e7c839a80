"""``llf-host config``: where the config lives and what is in effect."""

from __future__ import annotations

import json

import click

from .._config import load_config
from .._errors import LLMError
from .._paths import HostPaths
from ._state import fail

__all__ = ["config"]


@click.group()
def config() -> None:
    """Show the configuration file and its effective values."""


@config.command("path")
def config_path() -> None:
    """Print the path of the config file (it may not exist yet)."""
    click.echo(str(HostPaths.from_env().config_file))


@config.command("show")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def config_show(as_json: bool) -> None:
    """Print the effective configuration (file plus LLF_HOST__* overrides)."""
    paths = HostPaths.from_env()
    try:
        cfg = load_config(paths.config_file)
    except LLMError as exc:
        fail(exc)
        return
    if as_json:
        click.echo(json.dumps(cfg.data, indent=2, default=str))
        return
    exists = "" if paths.config_file.exists() else " (not created yet: defaults apply)"
    click.echo(f"# file: {paths.config_file}{exists}")
    for var in cfg.env_applied:
        click.echo(f"# from environment: {var}")
    if not cfg.data:
        click.echo("# (empty)")
    for section, table in cfg.data.items():
        click.echo(f"[{section}]")
        if isinstance(table, dict):
            for key, value in table.items():
                click.echo(f"{key} = {json.dumps(value, default=str)}")
        click.echo()
