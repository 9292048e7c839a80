"""The ``llf-host`` command line.

Sub-commands live in one module each and are imported only when used, so
``llf-host --version`` and ``llf-host serve`` stay fast. Plugins add commands
through the ``llf_commands`` hook; those are looked up only when a name is not
a built-in command (or for ``--help``).
"""

from __future__ import annotations

import sys

import click

from .._version import __version__
from ._lazy import LazyGroup
from ._state import CliState

__all__ = ["cli", "main"]

#: command name -> "module:attribute" (relative to llf_host._cli)
COMMANDS: dict[str, str] = {
    "audit": "_audit_cmd:audit",
    "bench": "_chat_cmd:bench",
    "chat": "_chat_cmd:chat",
    "config": "_config_cmd:config",
    "conversations": "_memory_cmd:conversations",
    "doctor": "_doctor_cmd:doctor",
    "export": "_export_cmd:export",
    "keys": "_keys_cmd:keys",
    "models": "_models_cmd:models",
    "new": "_new_cmd:new",
    "plugins": "_plugins_cmd:plugins",
    "serve": "_serve_cmd:serve",
    "stats": "_stats_cmd:stats",
    "tools": "_tools_cmd:tools",
    "trash": "_memory_cmd:trash",
}


@click.group(
    cls=LazyGroup, lazy_commands=COMMANDS, context_settings={"help_option_names": ["-h", "--help"]}
)
@click.version_option(__version__, "--version", "-V", prog_name="llf-host")
@click.option(
    "--debug",
    is_flag=True,
    envvar="LLF_HOST_DEBUG",
    help="Show internal decisions: phase timings and every hook call.",
)
@click.option(
    "--plugins-dir",
    "plugins_dirs",
    multiple=True,
    type=click.Path(file_okay=False),
    help="Extra drop-in plugins folder (repeatable).",
)
@click.option(
    "--log-file", type=click.Path(dir_okay=False), help="Also write the log to this file."
)
@click.pass_context
def cli(
    ctx: click.Context, debug: bool, plugins_dirs: tuple[str, ...], log_file: str | None
) -> None:
    """llf-host: an extension host for local LLM work."""
    state = CliState(debug=debug, plugins_dirs=list(plugins_dirs), log_file=log_file)
    state.configure_logging()
    ctx.obj = state


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point.

    Exit codes: 0 success, 1 failure (or end of input at a prompt), 2 usage
    error, 130 interrupted (Ctrl-C), as shells expect after SIGINT.
    """
    try:
        code = cli.main(args=argv, prog_name="llf-host", standalone_mode=False)
    except click.exceptions.Abort as exc:
        if isinstance(exc.__cause__, KeyboardInterrupt):
            sys.stderr.write("interrupted\n")
            sys.exit(130)
        sys.stderr.write("Aborted!\n")
        sys.exit(1)
    except KeyboardInterrupt:
        sys.stderr.write("\ninterrupted\n")
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    # ``ctx.exit(n)`` returns n here; a command's own return value is not a code.
    sys.exit(code if isinstance(code, int) else 0)
