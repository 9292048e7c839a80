"""An in-process server over two pipes: fast, for fuzzing and server-side hooks."""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from llf_host import Config
from llf_host import Host
from llf_host import HostPaths
from llf_host._rpc.server import Server
from llf_host.client import AsyncClient
from llf_host.testing import home_environ


def bare_host(home: Path, config: dict[str, Any] | None = None) -> Host:
    """A host with no plugins at all, its folders under ``home``."""
    env = home_environ(home)
    return Host(
        paths=HostPaths.from_env(env),
        config=Config(config or {}),
        builtins=False,
        user_plugins=False,
        entry_points=False,
        environ=env,
    )


@contextlib.asynccontextmanager
async def served(
    home: Path, config: dict[str, Any] | None = None
) -> AsyncIterator[tuple[Server, AsyncClient]]:
    """A server task and a client connected to it through pipes."""
    server = Server(bare_host(home, config), watch=False)
    server_read, client_write = os.pipe()
    client_read, server_write = os.pipe()
    task = asyncio.get_running_loop().create_task(server.serve(server_read, server_write))
    client = await AsyncClient.from_fds(client_read, client_write)
    try:
        yield server, client
    finally:
        await client.aclose(timeout=10)
        await asyncio.wait_for(task, 10)


def exchange(
    home: Path, data: bytes, *, first: bytes = b"", timeout: float = 10.0
) -> tuple[int, bytes]:
    """Feed ``data`` to a fresh server, close its input, return (exit code, output).

    ``first`` (an ``initialize`` request with id ``"init"``) is sent alone, and
    ``data`` only once its answer arrived, as LSP clients must do.

    The client side uses blocking threads so that arbitrary bytes (including
    half frames) can be written; the server runs on its own event loop. A hang
    raises ``TimeoutError``.
    """
    server_read, client_write = os.pipe()
    client_read, server_write = os.pipe()
    output = bytearray()
    initialized = threading.Event()

    def send(payload: bytes) -> None:
        view = memoryview(payload)
        while view:
            view = view[os.write(client_write, view) :]

    def write() -> None:
        try:
            if first:
                send(first)
                initialized.wait(timeout)
            send(data)
        except BrokenPipeError:
            pass
        finally:
            os.close(client_write)

    def read() -> None:
        try:
            while chunk := os.read(client_read, 1 << 16):
                output.extend(chunk)
                if b'"id":"init"' in output:
                    initialized.set()
        finally:
            initialized.set()
            os.close(client_read)

    threads = [threading.Thread(target=write), threading.Thread(target=read)]
    for thread in threads:
        thread.start()

    async def run() -> int:
        server = Server(bare_host(home), watch=False)
        return await asyncio.wait_for(server.serve(server_read, server_write), timeout)

    try:
        code = asyncio.run(run())
    except BaseException:
        # The server did not close its ends: do it so the threads end too.
        for fd in (server_read, server_write):
            with contextlib.suppress(OSError):
                os.close(fd)
        raise
    finally:
        for thread in threads:
            thread.join(timeout)
    if any(thread.is_alive() for thread in threads):
        raise TimeoutError("the client threads did not finish")
    return code, bytes(output)
