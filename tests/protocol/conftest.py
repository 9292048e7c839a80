"""Fixtures for protocol tests: a real `llf-host serve` subprocess with test plugins.

Every server runs with its own ``LLF_HOST_HOME`` under ``tmp_path`` and an
allow-list (``LLF_HOST_PLUGINS``) holding only the plugins the test wrote, so the
built-in plugins of the tree never influence these tests.
"""

from __future__ import annotations

import asyncio
import os
import sys
import textwrap
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import msgspec
import pytest

from llf_host._rpc.framing import FrameError
from llf_host._rpc.framing import FrameParser
from llf_host._rpc.framing import encode_frame
from llf_host.client import AsyncClient
from llf_host.testing import home_environ

#: Bound for every wait on a server (a hang fails the test instead of blocking CI).
WAIT = 20.0

MOCK_PLUGIN = """
import asyncio
from llf_host import ChatChunk, ModelInfo, Provider, ProviderUnavailableError, Usage, hookimpl


class TestProvider(Provider):
    prefix = "mock"
    description = "test provider"

    async def list_models(self):
        return [
            ModelInfo(id=f"mock/{name}", name=name, provider="mock")
            for name in ("echo", "slow", "fail", "crash")
        ]

    async def chat(self, request):
        if request.model == "slow":
            await asyncio.sleep(float(request.options.extra.get("sleep", 30)))
            yield ChatChunk(content="slept")
            return
        if request.model == "fail":
            raise ProviderUnavailableError("the mock engine is down", hint="start the mock engine")
        if request.model == "crash":
            raise RuntimeError("boom")
        text = request.messages[-1].content or ""
        words = text.split(" ")
        for i, word in enumerate(words):
            yield ChatChunk(content=word if i == 0 else " " + word)
        yield ChatChunk(finish_reason="stop", usage=Usage(prompt_tokens=1, completion_tokens=len(words)))


class BrokenProvider(Provider):
    prefix = "broken"

    async def list_models(self):
        raise RuntimeError("cannot list")

    async def chat(self, request):
        yield ChatChunk(content="never")


@hookimpl
def llf_providers():
    return [TestProvider(), BrokenProvider()]
"""

NOISY_PLUGIN = r"""
import ctypes
import os
import subprocess
import sys

from llf_host import ChatChunk, ModelInfo, Provider, hookimpl

print("noisy: print() at import")
sys.stdout.flush()
os.write(1, b"noisy: os.write(1) at import\n")
ctypes.CDLL(None).write(1, b"noisy: C write(1) at import\n", 28)
subprocess.run(["echo", "noisy: child process at import"], check=True)


class NoisyProvider(Provider):
    prefix = "noisy"

    async def list_models(self):
        print("noisy: print() in list_models")
        os.write(1, b"Content-Length: 5\r\n\r\nhello")
        return [ModelInfo(id="noisy/chatter", name="chatter", provider="noisy")]

    async def chat(self, request):
        print("noisy: print() in chat", flush=True)
        os.write(1, b"garbage on fd 1")
        ctypes.CDLL(None).write(1, b"C garbage", 9)
        subprocess.run(["echo", "noisy: child in chat"], check=True)
        yield ChatChunk(content="still fine")


@hookimpl
def llf_providers():
    return NoisyProvider()
"""


def write_plugin(home: Path, name: str, source: str) -> Path:
    """A drop-in plugin folder in the user's plugins dir of ``home``."""
    folder = home / "data" / "plugins" / name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "plugin.toml").write_text(
        f'[plugin]\nname = "{name}"\nversion = "1.0"\ndescription = "test plugin"\n'
    )
    (folder / "plugin.py").write_text(textwrap.dedent(source))
    return folder


def serve_environ(home: Path, plugins: str = "mockprov", **extra: str) -> dict[str, str]:
    """Environment for a server whose home is ``home`` and that loads only ``plugins``."""
    env = home_environ(home, {"LLF_HOST_PLUGINS": plugins, **extra})
    env["PYTHONUNBUFFERED"] = "1"
    return env


@pytest.fixture
def serve_home(tmp_path: Path) -> Path:
    """A home with the mock provider plugin installed."""
    home = tmp_path / "home"
    write_plugin(home, "mockprov", MOCK_PLUGIN)
    return home


@pytest.fixture
async def client(serve_home: Path) -> AsyncIterator[AsyncClient]:
    """An initialized client of a fresh server with the mock provider."""
    connection = await AsyncClient.spawn("--no-watch", env=serve_environ(serve_home))
    try:
        await asyncio.wait_for(connection.initialize(), WAIT)
        yield connection
    finally:
        await connection.aclose(timeout=WAIT)


class RawServer:
    """A server spoken to frame by frame, recording every message it sends.

    For tests that need to see the wire itself: duplicate or missing replies,
    framing errors, exit codes.
    """

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.messages: list[dict[str, Any]] = []
        self.frame_errors: list[FrameError] = []
        self._arrived = asyncio.Event()
        self._reader = asyncio.get_running_loop().create_task(self._read())
        self.next_id = 0

    @classmethod
    async def spawn(cls, env: dict[str, str], *args: str, stderr: Any = None) -> RawServer:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "llf_host._cli",
            "serve",
            "--no-watch",
            *args,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=stderr,
            env=env,
        )
        return cls(process)

    async def _read(self) -> None:
        parser = FrameParser(1 << 30)
        assert self.process.stdout is not None
        while data := await self.process.stdout.read(1 << 16):
            for item in parser.feed(data):
                if isinstance(item, FrameError):
                    self.frame_errors.append(item)
                else:
                    self.messages.append(msgspec.json.decode(item))
            self._arrived.set()
        self._arrived.set()

    def send_raw(self, data: bytes) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(data)

    def send(self, message: dict[str, Any]) -> None:
        self.send_raw(encode_frame(msgspec.json.encode({"jsonrpc": "2.0", **message})))

    def request(self, method: str, params: Any = None, *, rid: Any = None) -> Any:
        """Send a request; returns its id."""
        if rid is None:
            self.next_id += 1
            rid = self.next_id
        message: dict[str, Any] = {"id": rid, "method": method}
        if params is not None:
            message["params"] = params
        self.send(message)
        return rid

    def notify(self, method: str, params: Any = None) -> None:
        self.send({"method": method, "params": params if params is not None else {}})

    def replies(self, rid: Any) -> list[dict[str, Any]]:
        return [m for m in self.messages if "method" not in m and m.get("id") == rid]

    async def wait_for(self, predicate: Any, timeout: float = WAIT) -> None:
        async def loop() -> None:
            while not predicate():
                self._arrived.clear()
                if self._reader.done():
                    raise AssertionError(f"server stopped; got {self.messages[-5:]}")
                await self._arrived.wait()

        await asyncio.wait_for(loop(), timeout)

    async def reply(self, rid: Any, timeout: float = WAIT) -> dict[str, Any]:
        await self.wait_for(lambda: self.replies(rid), timeout)
        return self.replies(rid)[0]

    async def call(self, method: str, params: Any = None) -> dict[str, Any]:
        return await self.reply(self.request(method, params))

    async def initialize(self, **params: Any) -> dict[str, Any]:
        answer = await self.call("initialize", {"processId": os.getpid(), **params})
        self.notify("initialized")
        return answer

    async def close_stdin(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()

    async def wait_exit(self, timeout: float = WAIT) -> int:
        try:
            return await asyncio.wait_for(self.process.wait(), timeout)
        finally:
            if self.process.returncode is None:
                self.process.kill()
                await self.process.wait()
            await asyncio.wait_for(self._reader, timeout)

    async def aclose(self) -> None:
        if self.process.returncode is None:
            with_stdin = self.process.stdin
            if with_stdin is not None and not with_stdin.is_closing():
                with_stdin.close()
            await self.wait_exit()


@pytest.fixture
async def raw_server(serve_home: Path) -> AsyncIterator[RawServer]:
    """A raw (frame-level) connection to a fresh server with the mock provider."""
    server = await RawServer.spawn(serve_environ(serve_home))
    try:
        yield server
    finally:
        await server.aclose()
