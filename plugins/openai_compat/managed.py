"""Managed engines: launch a local server when its endpoint is down.

An engine or endpoint with a ``managed`` table names the command that starts
its server::

    [plugins.openai_compat.engines.llamacpp]
    hosts = ["127.0.0.1:8080"]
    managed = { command = ["llama-server", "-m", "~/models/qwen.gguf",
                           "--host", "{host}", "--port", "{port}"] }

When a request finds every endpoint of that prefix down, the command is started
(``{host}`` and ``{port}`` are filled from the first address, which must be on
loopback), its output goes to the log ``llf.engine.<prefix>`` line by line with
anything that looks like prompt text redacted, and the request waits until the
endpoint answers ready (or the process exits, or ``ready_timeout_s`` passes).
The process runs in its own process group and is stopped when the plugin shuts
down (SIGTERM, then SIGKILL after 5 s).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import os
import re
import signal
import time
from pathlib import Path
from typing import TYPE_CHECKING

from llf_host import ConfigError
from llf_host import ProviderUnavailableError

from .health import probe_endpoint

if TYPE_CHECKING:
    from .engine import Engine
    from .settings import ManagedSettings

__all__ = ["ManagedEngines", "ManagedProcess", "redact_log_line"]

_PROMPT_RE = re.compile(
    r"""("(?:messages|prompt|content|input|text)"\s*:|\b(?:prompt|messages)\s*[:=])""",
    re.IGNORECASE,
)
_MAX_LINE = 500
_STOP_GRACE_S = 5.0


def redact_log_line(line: str) -> str:
    """The line with everything after a prompt-like field replaced, and capped in length."""
    match = _PROMPT_RE.search(line)
    if match is not None:
        line = line[: match.end()] + " [redacted]"
    return line if len(line) <= _MAX_LINE else line[:_MAX_LINE] + " [...]"


def _expand(part: str) -> str:
    return str(Path(part).expanduser()) if part.startswith("~") else part


class ManagedProcess:
    """One engine server the plugin started."""

    def __init__(self, engine: Engine, settings: ManagedSettings, log: logging.Logger) -> None:
        self.engine = engine
        self.settings = settings
        self.plugin_log = log
        self.log = logging.getLogger(f"llf.engine.{engine.prefix}")
        self.process: asyncio.subprocess.Process | None = None
        self._pump: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self.tail: collections.deque[str] = collections.deque(maxlen=20)
        address = engine.config.addresses[0]
        if not address.is_loopback:
            raise ConfigError(
                f"config [plugins.openai_compat] {engine.prefix}.managed: the host starts "
                f"engines on loopback only, and {address.display} is not",
                hint="use a 127.0.0.1 address for a managed engine, or drop managed",
                plugin="openai_compat",
                field=f"{engine.prefix}.managed",
            )
        host, _, port = address.display.rpartition(":")
        self.command = [
            _expand(part.replace("{host}", host.strip("[]")).replace("{port}", port))
            for part in settings.command
        ]

    @property
    def running(self) -> bool:
        """The process is alive."""
        return self.process is not None and self.process.returncode is None

    async def start_and_wait(self) -> None:
        """Start the server (once) and wait until its endpoint answers ready."""
        async with self._lock:
            if not self.running:
                await self._spawn()
            await self._wait_ready()

    async def _spawn(self) -> None:
        self.plugin_log.info("starting %s: %s", self.engine.prefix, " ".join(self.command))
        env = {**os.environ, **self.settings.env}
        try:
            self.process = await asyncio.create_subprocess_exec(
                *self.command,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )
        except OSError as exc:
            raise ProviderUnavailableError(
                f"cannot start the managed engine for `{self.engine.prefix}`: {exc}",
                hint=f"check managed.command ({Path(self.command[0]).name} must be installed "
                "and on PATH)",
                provider=self.engine.prefix,
                command=self.command,
            ) from None
        self._pump = asyncio.create_task(self._pump_logs())

    async def _pump_logs(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        stream = self.process.stdout
        while True:
            try:
                raw = await stream.readline()
            except (ValueError, asyncio.LimitOverrunError):
                continue
            if not raw:
                return
            line = redact_log_line(raw.decode("utf-8", errors="replace").rstrip())
            self.tail.append(line)
            self.log.info("%s", line)

    async def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.settings.ready_timeout_s
        endpoints = await self.engine.endpoints()
        endpoint = endpoints[0]
        while True:
            status = await probe_endpoint(endpoint)
            if status.state == "ready":
                self.plugin_log.info(
                    "%s is ready at %s", self.engine.prefix, endpoint.address.display
                )
                return
            if not self.running:
                code = self.process.returncode if self.process else None
                last = " | ".join(list(self.tail)[-5:])
                raise ProviderUnavailableError(
                    f"the managed engine for `{self.engine.prefix}` exited with code {code} "
                    "before it was ready",
                    hint=f"run the command yourself to see why: {' '.join(self.command)}",
                    provider=self.engine.prefix,
                    exit_code=code,
                    log_tail=last,
                )
            if time.monotonic() > deadline:
                raise ProviderUnavailableError(
                    f"the managed engine for `{self.engine.prefix}` was not ready after "
                    f"{self.settings.ready_timeout_s:.0f} s ({status.message})",
                    hint="raise managed.ready_timeout_s, or check the engine's log "
                    f"(logger llf.engine.{self.engine.prefix})",
                    provider=self.engine.prefix,
                )
            await asyncio.sleep(0.25)

    async def stop(self) -> None:
        """SIGTERM the process group, then SIGKILL after a grace period."""
        process, self.process = self.process, None
        if process is not None and process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), _STOP_GRACE_S)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                await process.wait()
            self.plugin_log.info("stopped the managed engine for %s", self.engine.prefix)
        pump, self._pump = self._pump, None
        if pump is not None:
            pump.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await pump


class ManagedEngines:
    """The managed processes of one plugin load."""

    def __init__(self, log: logging.Logger) -> None:
        self.log = log
        self.processes: dict[str, ManagedProcess] = {}

    def attach(self, engine: Engine, settings: ManagedSettings) -> None:
        """Start ``settings.command`` when a request finds ``engine`` down."""
        process = ManagedProcess(engine, settings, self.log)
        self.processes[engine.prefix] = process
        if settings.autostart:
            engine.on_all_down = lambda _engine: process.start_and_wait()

    async def aclose(self) -> None:
        """Stop every process this load started."""
        for process in list(self.processes.values()):
            await process.stop()
