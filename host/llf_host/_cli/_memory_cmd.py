"""``llf-host conversations`` and ``llf-host trash``: the memory backend from the shell.

::

    llf-host conversations list
    llf-host conversations show conv_18c4... --tree
    llf-host conversations search 'kubernetes ingress' --role assistant --since 7d
    llf-host conversations branch conv_18c4...            # list branches
    llf-host conversations branch conv_18c4... msg_18c5... # switch to one
    llf-host conversations delete conv_18c4... [--message msg_...]
    llf-host conversations restore conv_18c4... [--message msg_...]
    llf-host conversations import old-chats.json more.jsonl
    llf-host trash list | restore ID | empty [--older-than 7]
"""

from __future__ import annotations

import datetime as dt
import json
import re
import sys
import time
from collections.abc import Awaitable
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING
from typing import Any
from typing import TypeVar

import click
import msgspec

from ._state import CliState
from ._state import run_async

if TYPE_CHECKING:
    from .._host import Host
    from .._memory_contract import MemoryBackend
    from .._memory_contract import StoredMessage

__all__ = ["conversations", "trash"]

T = TypeVar("T")
_RELATIVE = re.compile(r"^(\d+(?:\.\d+)?)([smhdw])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def _run(state: CliState, work: Callable[[Host, MemoryBackend], Awaitable[T]]) -> T:
    """Start a host, open the memory backend, run ``work``, close everything."""

    async def run() -> T:
        from .._memory import memory_service

        async with state.make_host() as host:
            service = memory_service(host)
            backend = await service.backend()
            with service.guarded("cli"):
                return await work(host, backend)

    return run_async(run)


def _echo_json(value: Any) -> None:
    click.echo(json.dumps(msgspec.to_builtins(value), indent=2, ensure_ascii=False))


def _when(stamp: float) -> str:
    return dt.datetime.fromtimestamp(stamp).strftime("%Y-%m-%d %H:%M")


def _parse_when(raw: str | None, option: str) -> float | None:
    """``7d``/``12h``/``30m`` ago, an ISO date or datetime, or epoch seconds."""
    if raw is None:
        return None
    match = _RELATIVE.match(raw.strip())
    if match:
        return time.time() - float(match.group(1)) * _UNITS[match.group(2)]
    try:
        return float(raw)
    except ValueError:
        pass
    try:
        parsed = dt.datetime.fromisoformat(raw)
    except ValueError:
        raise click.BadParameter(
            f"{raw!r} is not a time: use 7d, 12h, 30m, 2025-01-31 or 2025-01-31T09:00",
            param_hint=option,
        ) from None
    return parsed.timestamp()


def _one_line(text: str | None, width: int = 70) -> str:
    flat = " ".join((text or "").split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def _describe(message: StoredMessage) -> str:
    content = message.message.content
    if content is None and message.message.tool_calls:
        content = "→ " + ", ".join(c.function.name for c in message.message.tool_calls)
    return f"{message.message.role:>9}  {_one_line(content)}"


# -- conversations ---------------------------------------------------------------------------
@click.group()
def conversations() -> None:
    """Stored conversations: list, show, search, branches, trash, import."""


@conversations.command("list")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 1000))
@click.option("--offset", default=0, type=click.IntRange(0))
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
def list_conversations(state: CliState, limit: int, offset: int, as_json: bool) -> None:
    """Conversations, most recently updated first."""
    found = _run(state, lambda host, backend: backend.list_conversations(limit, offset))
    if as_json:
        _echo_json(found)
        return
    if not found:
        click.echo("no conversations")
        return
    for conv in found:
        title = conv.title or "(untitled)"
        click.echo(f"{conv.id}  {_when(conv.updated_at)}  {conv.message_count:>5} msgs  {title}")


@conversations.command("show")
@click.argument("conversation_id")
@click.option("--tree", "whole_tree", is_flag=True, help="Every branch, not just the current.")
@click.option("--leaf", help="Show the branch ending at this message.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
def show(
    state: CliState, conversation_id: str, whole_tree: bool, leaf: str | None, as_json: bool
) -> None:
    """Show a conversation's current branch (or its whole tree)."""

    async def work(host: Host, backend: MemoryBackend) -> tuple[Any, list[StoredMessage]]:
        conv = await backend.get_conversation(conversation_id)
        if whole_tree:
            return conv, await backend.tree(conversation_id)
        return conv, await backend.history(conversation_id, leaf)

    conv, messages = _run(state, work)
    if as_json:
        _echo_json({"conversation": conv, "messages": messages})
        return
    click.secho(f"{conv.title or '(untitled)'}  [{conv.id}]", bold=True)
    depth: dict[str | None, int] = {None: -1}
    for message in messages:
        depth[message.id] = depth.get(message.parent_id, -1) + 1
        indent = "  " * depth[message.id] if whole_tree else ""
        marker = "*" if message.id == conv.current_leaf_id else " "
        click.echo(f"{marker} {message.id}  {indent}{_describe(message)}")


@conversations.command("search")
@click.argument("words", nargs=-1, required=True)
@click.option("--conversation", "conversation_id", help="Only this conversation.")
@click.option("--role", type=click.Choice(["system", "user", "assistant", "tool", "developer"]))
@click.option("--model", help="Only messages from this model (prefix/name).")
@click.option("--since", help="Only after this time: 7d, 12h, 2025-01-31...")
@click.option("--until", help="Only before this time.")
@click.option("--memories", "scope", flag_value="memories", help="Search memories instead.")
@click.option("--all", "scope", flag_value="all", help="Search messages and memories.")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 1000))
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
def search(
    state: CliState,
    words: tuple[str, ...],
    conversation_id: str | None,
    role: str | None,
    model: str | None,
    since: str | None,
    until: str | None,
    scope: str | None,
    limit: int,
    as_json: bool,
) -> None:
    """Full-text search: words, "a phrase", prefix*, a OR b, -excluded."""
    from .._memory_contract import SearchQuery

    styled = sys.stdout.isatty() and not as_json
    query = SearchQuery(
        " ".join(words),
        scope=scope or "messages",  # type: ignore[arg-type]
        conversation_id=conversation_id,
        role=role,
        model=model,
        since=_parse_when(since, "--since"),
        until=_parse_when(until, "--until"),
        limit=limit,
        highlight_start="\x1b[1;33m" if styled else "[",
        highlight_end="\x1b[0m" if styled else "]",
    )
    if query.parse().empty:
        raise click.BadParameter("give at least one word to search for", param_hint="WORDS")
    hits = _run(state, lambda host, backend: backend.search(query))
    if as_json:
        _echo_json(hits)
        return
    if not hits:
        click.echo("no matches")
        return
    for hit in hits:
        where = hit.conversation_id or ",".join(hit.tags or []) or "memory"
        who = hit.role or hit.kind
        click.echo(f"{_when(hit.created_at)}  {who:>9}  {where}  {hit.id}")
        click.echo(f"    {' '.join(hit.snippet.split())}")


@conversations.command("branch")
@click.argument("conversation_id")
@click.argument("leaf_id", required=False)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
def branch(state: CliState, conversation_id: str, leaf_id: str | None, as_json: bool) -> None:
    """List a conversation's branches, or switch to the one ending at LEAF_ID."""

    async def work(host: Host, backend: MemoryBackend) -> tuple[str | None, list[StoredMessage]]:
        if leaf_id is not None:
            await backend.switch_branch(conversation_id, leaf_id)
        conv = await backend.get_conversation(conversation_id)
        return conv.current_leaf_id, await backend.branches(conversation_id)

    current, leaves = _run(state, work)
    if as_json:
        _echo_json({"current_leaf_id": current, "branches": leaves})
        return
    if leaf_id is not None:
        click.echo(f"switched to {leaf_id}")
    for leaf in leaves:
        marker = "*" if leaf.id == current else " "
        click.echo(f"{marker} {leaf.id}  {_describe(leaf)}")
    if current is not None and current not in {leaf.id for leaf in leaves}:
        click.echo(f"* {current}  (current position, inside a branch)")


@conversations.command("delete")
@click.argument("conversation_id")
@click.option("--message", "message_id", help="Delete only this message and the branch below.")
@click.pass_obj
def delete(state: CliState, conversation_id: str, message_id: str | None) -> None:
    """Move a conversation (or one branch of it) to the trash."""

    async def work(host: Host, backend: MemoryBackend) -> None:
        if message_id is None:
            await backend.delete("conversation", conversation_id)
            return
        message = await backend.get_message(message_id)
        if message.conversation_id != conversation_id:
            from .._errors import ConversationNotFoundError

            raise ConversationNotFoundError(
                f"message {message_id!r} is not in conversation {conversation_id!r}",
                hint=f"it belongs to {message.conversation_id}",
                message_id=message_id,
            )
        await backend.delete("message", message_id)

    _run(state, work)
    what = f"message {message_id} and its branch" if message_id else conversation_id
    click.echo(f"moved {what} to the trash (restore with `llf-host conversations restore`)")


@conversations.command("restore")
@click.argument("conversation_id")
@click.option("--message", "message_id", help="Restore this deleted branch.")
@click.pass_obj
def restore(state: CliState, conversation_id: str, message_id: str | None) -> None:
    """Bring a conversation (or a deleted branch) back from the trash."""

    async def work(host: Host, backend: MemoryBackend) -> None:
        if message_id is None:
            await backend.restore("conversation", conversation_id)
        else:
            await backend.restore("message", message_id)

    _run(state, work)
    click.echo(f"restored {message_id or conversation_id}")


@conversations.command("import")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
def import_(state: CliState, files: tuple[Path, ...], as_json: bool) -> None:
    """Import JSON exports of this host and simple JSON/JSONL conversation files."""
    from .._errors import LLMError
    from .._memory_import import import_conversations
    from .._memory_import import read_import_file
    from ._state import fail

    try:
        exports = [export for path in files for export in read_import_file(path)]
    except LLMError as exc:
        fail(exc)
    total = sum(len(e.messages) for e in exports)

    async def work(host: Host, backend: MemoryBackend) -> list[Any]:
        with _ImportProgress(total, as_json) as advance:
            return await import_conversations(host, exports, on_progress=advance)

    stored = _run(state, work)
    if as_json:
        _echo_json(stored)
        return
    for conv in stored:
        click.echo(f"{conv.id}  {conv.message_count:>5} msgs  {conv.title or '(untitled)'}")
    click.echo(f"imported {len(stored)} conversation(s)")


class _ImportProgress:
    """A rich progress bar on stderr for large imports (silent when not a terminal)."""

    def __init__(self, total: int, quiet: bool) -> None:
        from rich.console import Console
        from rich.progress import BarColumn
        from rich.progress import MofNCompleteColumn
        from rich.progress import Progress
        from rich.progress import TextColumn
        from rich.progress import TimeRemainingColumn

        console = Console(stderr=True)
        self.bar = Progress(
            TextColumn("importing"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("messages"),
            TimeRemainingColumn(),
            console=console,
            transient=True,
            disable=quiet or not console.is_terminal or total < 1000,
        )
        self.task = self.bar.add_task("import", total=total)

    def __enter__(self) -> Callable[[int], None]:
        self.bar.start()

        def advance(done: int) -> None:
            self.bar.update(self.task, completed=done)

        return advance

    def __exit__(self, *exc: object) -> None:
        self.bar.stop()


# -- trash -------------------------------------------------------------------------------------
@click.group()
def trash() -> None:
    """Deleted conversations, branches and memories: list, restore, empty."""


@trash.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
def list_trash(state: CliState, as_json: bool) -> None:
    """What is in the trash, most recently deleted first."""

    async def work(host: Host, backend: MemoryBackend) -> tuple[float, list[Any]]:
        from .._memory import memory_service

        days = memory_service(host).settings.trash_retention_days
        return days, await backend.list_trash()

    days, items = _run(state, work)
    if as_json:
        _echo_json({"items": items, "retention_days": days})
        return
    if not items:
        click.echo("the trash is empty")
        return
    for item in items:
        extra = f" ({item.count} messages)" if item.kind == "message" and item.count > 1 else ""
        click.echo(
            f"{_when(item.deleted_at)}  {item.kind:<12} {item.id}  "
            f"{_one_line(item.title, 50) or '(untitled)'}{extra}"
        )
    click.echo(f"items are purged {days:g} days after deletion")


@trash.command("restore")
@click.argument("item_id")
@click.pass_obj
def restore_item(state: CliState, item_id: str) -> None:
    """Bring back the trash item ITEM_ID (as `llf-host trash list` shows it)."""

    async def work(host: Host, backend: MemoryBackend) -> str:
        for item in await backend.list_trash():
            if item.id == item_id:
                await backend.restore(item.kind, item.id)
                return item.kind
        from .._errors import ConversationNotFoundError

        raise ConversationNotFoundError(
            f"nothing with id {item_id!r} in the trash",
            hint="see what can be restored with `llf-host trash list`",
            item_id=item_id,
        )

    kind = _run(state, work)
    click.echo(f"restored {kind} {item_id}")


@trash.command("empty")
@click.option(
    "--older-than",
    type=click.FloatRange(min=0),
    help="Only items deleted more than this many days ago.",
)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.pass_obj
def empty(state: CliState, older_than: float | None, yes: bool) -> None:
    """Delete trash items for good (all of them unless --older-than)."""
    what = f"trash items older than {older_than:g} days" if older_than is not None else "the trash"
    if not yes:
        click.confirm(f"Permanently delete {what}?", abort=True)

    async def work(host: Host, backend: MemoryBackend) -> int:
        from .._memory import memory_service

        cutoff = None if older_than is None else time.time() - older_than * 86400
        return await memory_service(host).purge(cutoff, reason="empty")

    count = _run(state, work)
    click.echo(f"purged {count} item(s)")
