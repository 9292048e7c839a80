"""``llf-host serve``: JSON-RPC 2.0 over stdio with LSP framing (docs/protocol.md).

The first thing it does is move the protocol off fd 0/1 (see
:func:`llf_host._rpc.transport.protect_stdio`), before any plugin is imported,
so nothing a plugin prints can reach the client.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys

import click

from .._errors import LLMError
from ._state import CliState
from ._state import fail

__all__ = ["serve"]

log = logging.getLogger("llf.rpc")


@click.command()
@click.option(
    "--no-watch",
    is_flag=True,
    help="Do not watch plugin folders for changes (no hot reload).",
)
@click.pass_obj
def serve(state: CliState, no_watch: bool) -> None:
    """Serve the JSON-RPC protocol on stdin/stdout until the client says exit."""
    from .._rpc.transport import protect_stdio

    read_fd, write_fd = protect_stdio()
    host = state.make_host()
    from .._rpc.server import Server

    try:
        server = Server(host, watch=not no_watch)
    except LLMError as exc:
        fail(exc)
        raise
    code = _run(server.serve(read_fd, write_fd))
    logging.shutdown()
    sys.stderr.flush()
    # Plugin threads (executors, engines) must not keep the process alive once
    # the session is over: the client expects a prompt exit.
    os._exit(code)


def _run(main: object) -> int:
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        return int(loop.run_until_complete(main))  # type: ignore[arg-type]
    except KeyboardInterrupt:
        return 130
    finally:
        _cancel_leftovers(loop)


def _cancel_leftovers(loop: asyncio.AbstractEventLoop) -> None:
    tasks = [t for t in asyncio.all_tasks(loop) if not t.done()]
    for task in tasks:
        task.cancel()
    if tasks:
        loop.run_until_complete(asyncio.wait(tasks, timeout=1.0))
    loop.close()
