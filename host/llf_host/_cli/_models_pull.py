"""``llf-host models pull PREFIX/NAME``: download a model into an engine, with progress.

The command only drives: it resolves the provider from the registry and iterates
its optional ``pull(name)`` async generator (the Ollama provider has one), whose
items carry ``status``, ``completed``, ``total`` and ``done``. Progress is drawn
on stderr with rich, so stdout stays clean for scripts.
"""

from __future__ import annotations

from typing import Any

import click

from .._errors import NotAvailableError
from .._guard import guarded
from ._state import CliState
from ._state import run_async

__all__ = ["pull"]


@click.command("pull")
@click.argument("model_id")
@click.pass_obj
def pull(state: CliState, model_id: str) -> None:
    """Download MODEL_ID (e.g. ollama/llama3.2) into its engine, showing progress."""
    from rich.console import Console
    from rich.progress import BarColumn
    from rich.progress import DownloadColumn
    from rich.progress import Progress
    from rich.progress import TextColumn
    from rich.progress import TimeRemainingColumn
    from rich.progress import TransferSpeedColumn

    console = Console(stderr=True)

    async def run() -> str:
        async with state.make_host() as host:
            entry, name = host.registry.resolve_model(model_id)
            puller = getattr(entry.obj, "pull", None)
            if puller is None:
                able = ", ".join(
                    f"{key}/"
                    for key, other in sorted(host.registry.providers.items())
                    if hasattr(other.obj, "pull")
                )
                raise NotAvailableError(
                    f"provider {entry.key!r} cannot download models",
                    hint=f"pull works for: {able or 'no loaded provider'}",
                    provider=entry.key,
                )
            last = ""
            progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                DownloadColumn(),
                TransferSpeedColumn(),
                TimeRemainingColumn(),
                console=console,
            )
            task = progress.add_task(f"pulling {name}", total=None)
            try:
                with guarded(entry.plugin, f"{type(entry.obj).__name__}.pull()"):
                    item: Any
                    async for item in puller(name):
                        if not progress.live.is_started:
                            progress.start()  # only once the engine answers
                        last = str(getattr(item, "status", "")) or last
                        total = getattr(item, "total", 0) or None
                        progress.update(
                            task,
                            description=last[:40] or f"pulling {name}",
                            completed=getattr(item, "completed", 0) or 0,
                            total=total,
                        )
                        if getattr(item, "done", False) and total:
                            progress.update(task, completed=total)
            finally:
                progress.stop()
            return last

    status = run_async(run)
    click.echo(f"{model_id}: {status or 'done'}")
