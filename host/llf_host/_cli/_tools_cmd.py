"""``llf-host tools``: list the tools and call one (in the sandbox, like a model would)."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from ._state import CliState
from ._state import run_async

__all__ = ["tools"]


@click.group()
def tools() -> None:
    """List and call tools."""


@tools.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
def list_tools(state: CliState, as_json: bool) -> None:
    """Every tool: plugin, what it does, its permissions."""
    from .._tools import get_tool_runner

    async def run() -> list[dict[str, Any]]:
        async with state.make_host() as host:
            return get_tool_runner(host).list_tools()

    found = run_async(run)
    if as_json:
        click.echo(json.dumps(found, indent=2))
        return
    if not found:
        click.echo("no tools registered")
        return
    for tool in found:
        flags = " (asks for approval)" if tool["confirm"] else ""
        click.echo(f"{tool['name']}  [{tool['plugin']}]{flags}")
        click.echo(f"    {tool['description']}")
        perms = tool["permissions"]
        reach = (
            ", ".join([*perms["network"], *perms["filesystem"]]) or "nothing outside its sandbox"
        )
        click.echo(f"    reaches: {reach}")


@tools.command("call")
@click.argument("name")
@click.option("--args", "args_json", default="{}", help="Arguments as a JSON object.")
@click.option("--yes", is_flag=True, help="Approve tools that ask for confirmation.")
@click.pass_obj
def call_tool(state: CliState, name: str, args_json: str, yes: bool) -> None:
    """Run tool NAME with --args '{"key": "value"}' and print its result as JSON."""
    from .._tools import ApprovalAnswer
    from .._tools import ApprovalRequest
    from .._tools import get_tool_runner

    try:
        arguments = json.loads(args_json)
    except json.JSONDecodeError as exc:
        raise click.BadParameter(f"not JSON: {exc}", param_hint="--args") from None

    async def approve(request: ApprovalRequest) -> ApprovalAnswer:
        if yes:
            return ApprovalAnswer(approved=True, reason="--yes on the command line")
        if not sys.stdin.isatty():
            return ApprovalAnswer(approved=False, reason="no terminal to ask (use --yes)")
        click.echo(f"tool {request.tool} [{request.plugin}] wants to run with:", err=True)
        click.echo(json.dumps(request.arguments, indent=2), err=True)
        ok = click.confirm("Run it?", default=False, err=True)
        return ApprovalAnswer(approved=ok, reason="asked on the terminal")

    async def run() -> Any:
        async with state.make_host() as host:
            result = await get_tool_runner(host).call(name, arguments, approver=approve)
            return result.result

    click.echo(json.dumps(run_async(run), indent=2, ensure_ascii=False))
