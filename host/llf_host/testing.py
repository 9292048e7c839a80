"""Helpers for testing plugins the way users run them.

Load a plugin folder into an isolated host with a temporary home (config, data,
keys, user plugins all under ``tmp_path``), with no built-in or pip-installed
plugins unless asked::

    from llf_host.testing import isolated_host

    async def test_my_tool(tmp_path):
        async with isolated_host(tmp_path, plugins=[Path(__file__).parent.parent]) as host:
            assert "my_tool" in host.registry.tools

Or use the fixtures by adding ``pytest_plugins = ["llf_host.testing"]`` to your
``conftest.py``: ``llf_home`` (a temporary home as environment) and
``make_host`` (an async factory of started hosts, closed after the test).
"""

from __future__ import annotations

import contextlib
import os
import tomllib
from collections.abc import AsyncIterator
from collections.abc import Awaitable
from collections.abc import Callable
from collections.abc import Iterator
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ._config import Config
from ._contracts import Provider
from ._host import Host
from ._paths import HostPaths
from ._testing_memory import InMemoryBackend
from ._types import ChatChunk
from ._types import ChatOptions
from ._types import ChatRequest
from ._types import ChatResult
from ._types import HealthStatus
from ._types import Message
from ._types import ModelInfo
from ._types import Timings
from ._types import Usage

__all__ = [
    "InMemoryBackend",
    "MockProvider",
    "call_tool",
    "chat",
    "home_environ",
    "isolated_host",
    "llf_home",
    "make_host",
]


def home_environ(home: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    """An environment that points every llf-host folder under ``home``.

    Inherits ``PATH`` and the like, drops the user's ``LLF_HOST*`` variables so the
    test is not influenced by the developer's own setup.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLF_HOST")}
    env["LLF_HOST_HOME"] = str(home)
    env.update(extra or {})
    return env


@contextlib.asynccontextmanager
async def isolated_host(
    home: Path,
    *,
    plugins: Sequence[Path | str] = (),
    config: dict[str, Any] | str | None = None,
    builtins: bool = False,
    entry_points: bool = False,
    allow: Sequence[str] | None = None,
    environ: dict[str, str] | None = None,
) -> AsyncIterator[Host]:
    """A started host whose every folder lives under ``home``.

    :param plugins: plugin folders or ``.py`` files to load, or folders of plugins.
    :param config: the config as a dict or TOML text (default: empty).
    :param builtins: also load the built-in plugins.
    """
    env = home_environ(home, environ)
    paths = HostPaths.from_env(env)
    if isinstance(config, str):
        cfg = Config(tomllib.loads(config))
    else:
        cfg = Config(config or {})
    dirs: list[Path] = []
    for item in plugins:
        path = Path(item)
        # A plugin itself (folder with plugin.toml, or a .py): load its parent folder
        # through a private folder of links so siblings are not picked up.
        if (path / "plugin.toml").is_file() or path.suffix == ".py":
            staging = home / "_test_plugins" / f"{len(dirs)}"
            staging.mkdir(parents=True, exist_ok=True)
            link = staging / path.name
            if not link.exists():
                link.symlink_to(path.resolve(), target_is_directory=path.is_dir())
            dirs.append(staging)
        else:
            dirs.append(path)
    host = Host(
        paths=paths,
        config=cfg,
        plugins_dirs=dirs,
        builtins=builtins,
        user_plugins=False,
        entry_points=entry_points,
        allow=allow,
        environ=env,
    )
    await host.start()
    try:
        yield host
    finally:
        await host.aclose()


async def chat(
    host: Host, model: str, prompt: str | list[Message], *, options: ChatOptions | None = None
) -> ChatResult:
    """Send one prompt (or a message list) to ``model`` through ``host``; the full result."""
    from ._chat import stream_chat

    messages = [Message(role="user", content=prompt)] if isinstance(prompt, str) else prompt
    request = ChatRequest(model=model, messages=messages, options=options or ChatOptions())
    return await stream_chat(host.registry, request)


async def call_tool(
    host: Host,
    name: str,
    arguments: dict[str, Any] | None = None,
    *,
    approve: bool = False,
) -> Any:
    """Run tool ``name`` through ``host``'s tool runner, in the real sandbox; its result.

    The call goes through every check a client's call does (schema validation,
    rate limit, approval, isolation layers) and raises the same typed errors:
    :class:`~llf_host.ToolArgumentsInvalid`, :class:`~llf_host.ToolTimeout`,
    :class:`~llf_host.ToolResourceLimit`, :class:`~llf_host.ToolCrashed`,
    :class:`~llf_host.SandboxDenied`, :class:`~llf_host.ToolDenied`...

    :param approve: approve tools marked ``confirm = true`` (otherwise they are
        denied, as when no client can answer ``tools/approve``).
    """
    from ._tools import ApprovalAnswer
    from ._tools import ApprovalRequest
    from ._tools import get_tool_runner

    async def approve_all(_request: ApprovalRequest) -> ApprovalAnswer:
        return ApprovalAnswer(approved=True, reason="approved by llf_host.testing.call_tool")

    runner = get_tool_runner(host)
    outcome = await runner.call(name, arguments or {}, approver=approve_all if approve else None)
    return outcome.result


class MockProvider(Provider):
    """A provider that answers from a script: useful to test clients and plugins.

    It echoes the last user message unless ``reply`` is given, streams word by
    word, and reports usage in the final chunk like most engines do.
    """

    def __init__(
        self,
        prefix: str = "mock",
        *,
        models: Sequence[str] = ("echo",),
        reply: str | Callable[[ChatRequest], str] | None = None,
        delay: float = 0.0,
    ) -> None:
        self.prefix = prefix
        self.description = "scripted replies for tests"
        self._models = list(models)
        self._reply = reply
        self._delay = delay
        #: Every request received, for assertions.
        self.requests: list[ChatRequest] = []

    async def list_models(self) -> list[ModelInfo]:
        return [
            ModelInfo(id=f"{self.prefix}/{m}", name=m, provider=self.prefix) for m in self._models
        ]

    async def health(self) -> HealthStatus:
        return HealthStatus(state="ready", message="mock provider")

    async def chat(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        import asyncio

        self.requests.append(request)
        if callable(self._reply):
            text = self._reply(request)
        elif self._reply is not None:
            text = self._reply
        else:
            users = [m for m in request.messages if m.role == "user"]
            text = (users[-1].content or "") if users else ""
        words = text.split(" ")
        for i, word in enumerate(words):
            if self._delay:
                await asyncio.sleep(self._delay)
            yield ChatChunk(content=word if i == 0 else " " + word)
        prompt_tokens = sum(len((m.content or "").split()) for m in request.messages)
        yield ChatChunk(
            finish_reason="stop",
            usage=Usage(
                prompt_tokens=prompt_tokens,
                completion_tokens=len(words),
                total_tokens=prompt_tokens + len(words),
            ),
            timings=Timings(),
        )


# -- pytest fixtures (enable with pytest_plugins = ["llf_host.testing"]) ------------
try:
    import pytest
except ImportError:  # pragma: no cover - pytest is optional at runtime
    pass
else:

    @pytest.fixture
    def llf_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
        """A temporary llf-host home, exported as ``LLF_HOST_HOME`` for subprocesses."""
        home = tmp_path / "llf-home"
        home.mkdir()
        for var in [v for v in os.environ if v.startswith("LLF_HOST")]:
            monkeypatch.delenv(var)
        monkeypatch.setenv("LLF_HOST_HOME", str(home))
        yield home

    @pytest.fixture
    async def make_host(
        llf_home: Path,
    ) -> AsyncIterator[Callable[..., Awaitable[Host]]]:
        """An async factory: ``host = await make_host(plugins=[...], config={...})``."""
        stack = contextlib.AsyncExitStack()

        async def factory(**kwargs: Any) -> Host:
            return await stack.enter_async_context(isolated_host(llf_home, **kwargs))

        async with stack:
            yield factory
