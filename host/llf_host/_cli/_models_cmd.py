"""``llf-host models``: list, refresh and unload the models of every provider.

Each provider is asked on its own, under a guard and a time limit: one that
fails or hangs is reported on stderr (or under ``errors`` with ``--json``) and
never hides the others. ``unload`` and ``refresh`` call the optional provider
methods of those names when a provider has them.
"""

from __future__ import annotations

import asyncio
import importlib
import json
from typing import TYPE_CHECKING
from typing import Any

import click
import msgspec

from .._errors import LLMError
from .._errors import ProviderResponseError
from .._errors import ProviderUnavailableError
from .._guard import call_guarded
from .._types import ModelInfo
from ._state import CliState
from ._state import fail
from ._state import run_async

if TYPE_CHECKING:
    from .._contracts import Provider
    from .._host import Host
    from .._registry import Entry

__all__ = ["models"]

LIST_TIMEOUT_S = 10.0


@click.group()
def models() -> None:
    """List, refresh and unload models."""


def _add_pull_command() -> None:
    """Add ``models pull`` when its module (HTTP engines) is part of this build."""
    try:
        module = importlib.import_module(f"{__package__}._models_pull")
    except ModuleNotFoundError as exc:
        if exc.name != f"{__package__}._models_pull":
            raise
        return
    models.add_command(module.pull)


_add_pull_command()


async def _ask(entry: Entry[Provider], method: str, timeout: float) -> list[ModelInfo] | LLMError:
    func = getattr(entry.obj, method, None) or entry.obj.list_models
    try:
        found = await asyncio.wait_for(
            call_guarded(entry.plugin, f"{type(entry.obj).__name__}.{method}()", func), timeout
        )
    except TimeoutError:
        return ProviderUnavailableError(
            f"provider {entry.key!r} did not answer within {timeout:g} s",
            hint="check that its engine is running and reachable",
            provider=entry.key,
        )
    except LLMError as exc:
        exc.data.setdefault("provider", entry.key)
        return exc
    if not isinstance(found, list) or not all(isinstance(m, ModelInfo) for m in found):
        return ProviderResponseError(
            f"provider {entry.key!r} {method}() did not return a list of ModelInfo",
            hint="list_models() must return list[llf_host.ModelInfo]",
            provider=entry.key,
        )
    return found


async def collect_models(
    host: Host, *, method: str = "list_models", timeout: float = LIST_TIMEOUT_S
) -> tuple[list[ModelInfo], list[dict[str, Any]]]:
    """Every provider's models, plus one error entry per provider that failed."""
    entries = [entry for _key, entry in sorted(host.registry.providers.items())]
    outcomes = await asyncio.gather(*(_ask(e, method, timeout) for e in entries))
    found: list[ModelInfo] = []
    errors: list[dict[str, Any]] = []
    for entry, outcome in zip(entries, outcomes, strict=True):
        if isinstance(outcome, LLMError):
            errors.append(
                {"provider": entry.key, "plugin": entry.plugin, "error": outcome.to_wire()}
            )
        else:
            found.extend(outcome)
    return found, errors


def _size(size: int | None) -> str:
    if size is None:
        return "-"
    if size >= 2**30:
        return f"{size / 2**30:.1f} GiB"
    return f"{size / 2**20:.0f} MiB"


def _print_table(found: list[ModelInfo], errors: list[dict[str, Any]]) -> None:
    if not found:
        click.echo("no models found")
    width = max([len(m.id) for m in found] + [5])
    if found:
        click.echo(f"{'MODEL':<{width}}  {'LOADED':<6}  {'SIZE':>9}  {'CONTEXT':>7}  DESCRIPTION")
    for info in found:
        loaded = {True: "yes", False: "no", None: "?"}[info.loaded]
        context = str(info.context_length) if info.context_length else "-"
        aliases = info.details.get("aliases") if isinstance(info.details, dict) else None
        description = info.description
        if aliases:
            description = f"{description} (alias: {', '.join(aliases)})".strip()
        click.echo(
            f"{info.id:<{width}}  {loaded:<6}  {_size(info.size_bytes):>9}  {context:>7}  "
            f"{description}"
        )
    for error in errors:
        wire = error["error"]
        click.secho(f"{error['provider']}: {wire['message']}", fg="yellow", err=True)
        hint = wire.get("data", {}).get("hint")
        if hint:
            click.echo(f"  fix: {hint}", err=True)


def _list_command(state: CliState, as_json: bool, method: str) -> None:
    async def run() -> tuple[list[ModelInfo], list[dict[str, Any]]]:
        async with state.make_host() as host:
            return await collect_models(host, method=method)

    found, errors = run_async(run)
    if as_json:
        click.echo(json.dumps({"models": msgspec.to_builtins(found), "errors": errors}, indent=2))
        return
    _print_table(found, errors)


@models.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
def list_models(state: CliState, as_json: bool) -> None:
    """List the models every provider can serve."""
    _list_command(state, as_json, "list_models")


@models.command("refresh")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
def refresh_models(state: CliState, as_json: bool) -> None:
    """Rescan model folders and engines, then list (providers with a refresh method)."""
    _list_command(state, as_json, "refresh")


@models.command("unload")
@click.argument("model")
@click.pass_obj
def unload_model(state: CliState, model: str) -> None:
    """Unload MODEL (prefix/name) from its engine.

    In-process engines (llama_cpp, mlx) keep models loaded inside the process
    that used them, such as a running `llf-host serve`; use the protocol's
    models/unload there. For engines running as servers this frees the model in
    the server.
    """

    async def run() -> bool | None:
        async with state.make_host() as host:
            entry, name = host.registry.resolve_model(model)
            unload = getattr(entry.obj, "unload", None)
            if unload is None:
                return None
            return bool(await call_guarded(entry.plugin, "unload()", unload, name))

    try:
        outcome = run_async(run)
    except LLMError as exc:  # pragma: no cover - run_async exits on LLMError
        fail(exc)
        return
    if outcome is None:
        click.echo(f"{model}: its provider cannot unload models")
    elif outcome:
        click.echo(f"unloaded {model}")
    else:
        click.echo(
            f"{model} was not loaded (in-process models live in the process that loaded them)"
        )
