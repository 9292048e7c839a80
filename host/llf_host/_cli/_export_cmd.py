"""``llf-host export``: conversations to Markdown, JSON, HTML, text or PDF, and back.

::

    llf-host export CONV_ID --format md -o chat.md
    llf-host export --search "kubernetes ingress" --format html -o k8s.html
    llf-host export --all --format json -o backup.json
    llf-host export import backup.json
    llf-host export formats

``export CONV_ID`` is short for ``export conversation CONV_ID`` (a conversation
whose id is literally ``import`` or ``formats`` needs the long form).
"""

from __future__ import annotations

import contextlib
import json
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING
from typing import Any

import click

from .._errors import LLMError
from ._state import CliState
from ._state import fail
from ._state import run_async

if TYPE_CHECKING:
    from .._export import Progress

__all__ = ["export"]

_DEFAULT_COMMAND = "conversation"


class _DefaultGroup(click.Group):
    """A group that runs ``conversation`` when the first word is not a sub-command."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if not args or (args[0] not in self.commands and args[0] not in ("-h", "--help")):
            args = [_DEFAULT_COMMAND, *args]
        return super().parse_args(ctx, args)


@click.group(cls=_DefaultGroup)
def export() -> None:
    """Export conversations (md, json, html, txt, pdf) or import a JSON export.

    \b
    llf-host export CONV_ID --format md -o chat.md
    llf-host export --all --format json -o backup.json
    llf-host export import backup.json

    See `llf-host export conversation --help` for every export option.
    """


@contextlib.contextmanager
def _progress(label: str, enabled: bool) -> Iterator[Progress | None]:
    """A rich progress bar on stderr, fed through the returned callback."""
    if not enabled:
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn
    from rich.progress import MofNCompleteColumn
    from rich.progress import Progress as RichProgress
    from rich.progress import TextColumn
    from rich.progress import TimeRemainingColumn

    bar = RichProgress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
    )
    task = bar.add_task(label, total=None)

    def update(done: int, total: int) -> None:
        bar.update(task, completed=done, total=total)

    with bar:
        yield update


def _parse_option(raw: str) -> tuple[str, Any]:
    key, sep, value = raw.partition("=")
    if not sep or not key.strip():
        raise click.BadParameter(f"{raw!r} is not KEY=VALUE", param_hint="--option")
    try:
        parsed: Any = tomllib.loads(f"v = {value}")["v"]
    except tomllib.TOMLDecodeError:
        parsed = value
    return key.strip(), parsed


def _guess_format(output: str | None, known: dict[str, str]) -> str:
    if output and output != "-":
        suffix = Path(output).suffix.lstrip(".").lower()
        for fmt, extension in known.items():
            if suffix in (fmt, extension):
                return fmt
    return "md"


def _human_size(size: int) -> str:
    if size < 1024:
        return f"{size} B"
    if size < 1024 * 1024:
        return f"{size / 1024:.1f} kB"
    return f"{size / 1024 / 1024:.1f} MB"


@export.command("conversation")
@click.argument("conversation_id", required=False)
@click.option("--all", "export_all", is_flag=True, help="Export every conversation.")
@click.option("--search", metavar="QUERY", help="Export the conversations a search finds.")
@click.option(
    "-f", "--format", "fmt", metavar="FORMAT", help="md, json, html, txt, pdf (default: from -o)."
)
@click.option("-o", "--output", metavar="FILE", help="Write to FILE (mode 0600); default: stdout.")
@click.option("--no-system", is_flag=True, help="Leave out system (and developer) prompts.")
@click.option("--no-timestamps", is_flag=True, help="Leave out every timestamp.")
@click.option("--no-tool-calls", is_flag=True, help="Leave out tool calls and tool results.")
@click.option(
    "--metadata/--no-metadata",
    default=None,
    help="Include metadata (default: yes for json, no for the readable formats).",
)
@click.option("--since", metavar="DATE", help="Only messages from DATE (ISO 8601 or epoch).")
@click.option("--until", metavar="DATE", help="Only messages up to DATE (a date: that whole day).")
@click.option(
    "--branch",
    type=click.Choice(["current", "all"]),
    help="The current branch or the whole tree (default: all for json, current otherwise).",
)
@click.option(
    "--option",
    "extra",
    multiple=True,
    metavar="KEY=VALUE",
    help="Any other exporter option (e.g. title=..., highlight=builtin). Repeatable.",
)
@click.option(
    "--progress/--no-progress",
    default=None,
    help="Show a progress bar (default: when exporting several conversations to a terminal).",
)
@click.pass_obj
def export_conversation(
    state: CliState,
    conversation_id: str | None,
    export_all: bool,
    search: str | None,
    fmt: str | None,
    output: str | None,
    no_system: bool,
    no_timestamps: bool,
    no_tool_calls: bool,
    metadata: bool | None,
    since: str | None,
    until: str | None,
    branch: str | None,
    extra: tuple[str, ...],
    progress: bool | None,
) -> None:
    """Export CONV_ID, the conversations matching --search, or --all of them."""
    from .._export import Selection
    from .._export import export_conversations
    from .._export import list_formats
    from .._export import write_export_file

    if sum([conversation_id is not None, search is not None, export_all]) != 1:
        raise click.UsageError("give exactly one of CONV_ID, --search QUERY or --all")
    selection = Selection(conversation_id=conversation_id, search=search, all=export_all)
    options: dict[str, Any] = dict(_parse_option(item) for item in extra)
    if no_system:
        options["include_system"] = False
    if no_timestamps:
        options["include_timestamps"] = False
    if no_tool_calls:
        options["include_tool_calls"] = False
    if metadata is not None:
        options["include_metadata"] = metadata
    for key, value in (("since", since), ("until", until), ("branch", branch)):
        if value is not None:
            options[key] = value
    to_stdout = output in (None, "-")
    show_progress = progress if progress is not None else sys.stderr.isatty()

    async def run() -> tuple[Any, str]:
        async with state.make_host() as host:
            known = {f["format"]: f["extension"] for f in list_formats(host)}
            chosen = fmt or _guess_format(output, known)
            with _progress(f"reading {selection.describe()}", show_progress) as on_progress:
                result = await export_conversations(
                    host, selection, chosen, options, on_progress=on_progress
                )
            return result, chosen

    result, chosen = run_async(run)
    if to_stdout:
        if result.binary and sys.stdout.isatty():
            fail(
                LLMError(
                    f"the {chosen} export is binary and stdout is a terminal",
                    hint=f"write it to a file: -o export.{result.extension}",
                )
            )
        sys.stdout.buffer.write(result.content)
        sys.stdout.flush()
        return
    assert output is not None
    try:
        write_export_file(Path(output), result.content)
    except LLMError as exc:
        fail(exc)
    click.echo(
        f"exported {result.conversations} conversation(s), {result.messages} messages, "
        f"to {output} ({chosen}, {_human_size(len(result.content))})",
        err=True,
    )


@export.command("import")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--progress/--no-progress", default=None, help="Show a progress bar.")
@click.pass_obj
def import_files(
    state: CliState, files: tuple[str, ...], as_json: bool, progress: bool | None
) -> None:
    """Import JSON exports (llf-host-export v1) into the memory store.

    Also reads the simpler conversation files `llf-host conversations import`
    knows (docs/memory.md). Every file is checked before anything is stored.
    Imported conversations get new ids; the original id is kept in
    metadata.imported_from.
    """
    from .._export import import_exports
    from .._memory_import import read_import_file

    show_progress = progress if progress is not None else sys.stderr.isatty()

    async def run() -> list[dict[str, Any]]:
        exports = []
        for name in files:
            exports.extend(read_import_file(Path(name)))
        async with state.make_host() as host:
            with _progress("importing messages", show_progress) as on_progress:
                result = await import_exports(host, exports, on_progress=on_progress)
        return [
            {"source_id": c.source_id, "id": c.id, "title": c.title, "messages": c.messages}
            for c in result.conversations
        ]

    imported = run_async(run)
    if as_json:
        click.echo(json.dumps({"conversations": imported}, indent=2, ensure_ascii=False))
        return
    for item in imported:
        title = item["title"] or "(untitled)"
        click.echo(
            f"imported {item['id']}  {title}  ({item['messages']} messages, "
            f"was {item['source_id']})"
        )
    total = sum(item["messages"] for item in imported)
    click.echo(f"{len(imported)} conversation(s), {total} messages", err=True)


@export.command("formats")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
def formats(state: CliState, as_json: bool) -> None:
    """List the export formats the loaded plugins offer."""
    from .._export import list_formats

    async def run() -> list[dict[str, Any]]:
        async with state.make_host() as host:
            return list_formats(host)

    found = run_async(run)
    if as_json:
        click.echo(json.dumps({"formats": found}, indent=2))
        return
    if not found:
        click.echo("no exporter plugins loaded")
        return
    for item in found:
        click.echo(f"{item['format']:<6} .{item['extension']:<5} {item['description']}")
