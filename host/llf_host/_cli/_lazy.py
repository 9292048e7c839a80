"""A click group whose sub-commands are imported on first use."""

from __future__ import annotations

import importlib
from typing import Any

import click

__all__ = ["LazyGroup"]


class LazyGroup(click.Group):
    """Resolve built-in commands from ``module:attr`` strings; then plugin commands."""

    def __init__(
        self, *args: Any, lazy_commands: dict[str, str] | None = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.lazy_commands = lazy_commands or {}
        self._plugin_commands_loaded = False

    def list_commands(self, ctx: click.Context) -> list[str]:
        self._load_plugin_commands(ctx)
        return sorted({*super().list_commands(ctx), *self.lazy_commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.lazy_commands:
            module_name, _, attr = self.lazy_commands[cmd_name].partition(":")
            module = importlib.import_module(f"llf_host._cli.{module_name}")
            command: click.Command = getattr(module, attr)
            return command
        found = super().get_command(ctx, cmd_name)
        if found is None:
            self._load_plugin_commands(ctx)
            found = super().get_command(ctx, cmd_name)
        return found

    def _load_plugin_commands(self, ctx: click.Context) -> None:
        if self._plugin_commands_loaded:
            return
        self._plugin_commands_loaded = True
        from ._state import CliState

        state = ctx.find_object(CliState)
        if state is None:
            return
        state.add_plugin_commands(self)
