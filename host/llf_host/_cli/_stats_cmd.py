"""``llf-host stats``: requests, tokens, cost and latency per model and per route.

The figures come from the memory backend when one is loaded (answers stored in
conversations keep their model, usage, timings and cost), else from the
router's in-memory metrics, which only cover requests made by this process.
"""

from __future__ import annotations

import json
from typing import Any

import click

from .._errors import ConfigError
from ._state import CliState
from ._state import run_async

__all__ = ["stats"]


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def _cost(group: dict[str, Any]) -> str:
    amount = group["cost"]
    text = f"${amount:.6f}" if 0 < amount < 0.01 else f"${amount:.4f}"
    if group["unpriced_requests"]:
        text += f" (+{group['unpriced_requests']} unpriced)"
    return text


def _table(title: str, groups: dict[str, dict[str, Any]]) -> list[str]:
    if not groups:
        return []
    width = max(len(title), *(len(k) for k in groups))
    lines = [
        f"{title:<{width}}  {'reqs':>5} {'errs':>5} {'tok in':>9} {'tok out':>9} "
        f"{'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8}  cost"
    ]
    for key, g in groups.items():
        lat = g["latency_ms"]
        lines.append(
            f"{key:<{width}}  {g['requests']:>5} {g['errors']:>5} {g['prompt_tokens']:>9,} "
            f"{g['completion_tokens']:>9,} {_ms(lat['p50']):>8} {_ms(lat['p90']):>8} "
            f"{_ms(lat['p99']):>8}  {_cost(g)}"
        )
    return lines


def render(summary: dict[str, Any], window: str | None) -> str:
    """The human-readable report."""
    total = summary["total"]
    span = f"last {window}" if window else "all recorded time"
    source = {
        "memory": "memory backend (stored conversations)",
        "router": "this process's router (in-memory; nothing from earlier runs)",
    }.get(summary["source"], summary["source"])
    lines = [
        f"{total['requests']} requests, {total['errors']} errors, "
        f"{total['prompt_tokens']:,} prompt + {total['completion_tokens']:,} completion tokens, "
        f"cost {_cost(total)}  ({span}; source: {source})"
    ]
    if total["requests"]:
        lines += ["", *_table("model", summary["by_model"])]
        lines += ["", *_table("route", summary["by_route"])]
    return "\n".join(lines)


@click.command()
@click.option(
    "--since", default=None, help="Time window, e.g. 90s, 30m, 1h, 2d, 1w (default: all)."
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option(
    "--source",
    type=click.Choice(["auto", "memory", "router"]),
    default="auto",
    show_default=True,
    help="Where usage comes from: the memory backend, or this process's router.",
)
@click.pass_obj
def stats(state: CliState, since: str | None, as_json: bool, source: str) -> None:
    """Summarise requests, tokens, cost and latency per model and per route."""
    from .._routing.history import records_from_memory
    from .._routing.metrics import parse_since
    from .._routing.metrics import summarize
    from .._routing.service import get_router

    try:
        start = parse_since(since)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--since") from None

    async def run() -> dict[str, Any]:
        async with state.make_host() as host:
            if source in ("auto", "memory"):
                records = await records_from_memory(host, start)
                if records is not None:
                    return summarize(records, since=start, source="memory")
                if source == "memory":
                    raise ConfigError(
                        "no memory backend is loaded, so there is no stored usage to read",
                        hint="enable a memory backend plugin, or use --source router",
                    )
            return get_router(host).stats(start)

    summary = run_async(run)
    if as_json:
        click.echo(json.dumps(summary, indent=2))
    else:
        click.echo(render(summary, since))
