"""Shared state of one ``llf-host`` invocation: global options and host creation."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Awaitable
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING
from typing import Any
from typing import TypeVar

import click

from .._errors import LLMError
from .._logging import configure_logging
from .._logging import debug_enabled

if TYPE_CHECKING:
    from .._host import Host

__all__ = ["CliState", "fail", "run_async"]

T = TypeVar("T")
log = logging.getLogger("llf.cli")


def fail(exc: LLMError) -> None:
    """Print an LLMError as a one-line message plus its fix, and exit 1."""
    click.secho(f"error: {exc.message}", fg="red", err=True)
    if exc.hint:
        click.echo(f"  fix: {exc.hint}", err=True)
    sys.exit(1)


def run_async(func: Callable[[], Awaitable[T]]) -> T:
    """Run a coroutine function; LLMErrors become a clean message and exit 1."""
    try:
        return asyncio.run(func())  # type: ignore[arg-type]
    except LLMError as exc:
        fail(exc)
        raise AssertionError("unreachable") from None


class CliState:
    """Global options, plus a factory for the host the commands work with."""

    def __init__(
        self,
        *,
        debug: bool = False,
        plugins_dirs: list[str] | None = None,
        log_file: str | None = None,
    ) -> None:
        self.debug = debug or debug_enabled()
        self.plugins_dirs = [Path(p) for p in plugins_dirs or []]
        self.log_file = log_file

    def configure_logging(self, level: str | None = None) -> None:
        """Log to stderr at the config's level (debug with --debug)."""
        configure_logging(level=level or "warning", debug=self.debug, log_file=self.log_file)

    def make_host(self, **kwargs: Any) -> Host:
        """A host built from the environment, config and global options (not started)."""
        from .._host import Host

        try:
            host = Host(plugins_dirs=self.plugins_dirs, **kwargs)
        except LLMError as exc:
            fail(exc)
            raise AssertionError("unreachable") from None
        if host.config.host.log_file and not self.log_file:
            self.log_file = host.config.host.log_file
        self.configure_logging(host.config.host.log_level)
        return host

    def add_plugin_commands(self, group: click.Group) -> None:
        """Load plugins and let each add commands through ``llf_commands``."""

        async def collect() -> None:
            async with self.make_host() as host:
                for record in host.plugins.values():
                    if record.status == "ok" and "llf_commands" in record.hooks():
                        try:
                            await host.loader.call_hook(record, "llf_commands", {"cli": group})
                        except LLMError as exc:
                            log.error("%s", exc)

        try:
            asyncio.run(collect())
        except LLMError as exc:
            log.error("plugin commands unavailable: %s", exc)
