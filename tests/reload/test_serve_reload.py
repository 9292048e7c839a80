"""Hot reload through a real `llf-host serve`: edits, add/remove, broken versions, chaos."""

from __future__ import annotations

import asyncio
import random
import shutil
import sys
import textwrap
from pathlib import Path

import pytest

from llf_host import LLMError
from llf_host.client import AsyncClient
from llf_host.testing import home_environ

PROVIDER = """
from llf_host import hookimpl
from llf_host.testing import MockProvider

@hookimpl
def llf_providers():
    return MockProvider("{prefix}", reply="{reply}", delay={delay})
"""

BROKEN = {
    "syntax": "def broken(:\n",
    "import_error": "raise RuntimeError('broken on purpose')\n",
    "bad_hook": "from llf_host import hookimpl\n@hookimpl\ndef llf_providers():\n    return 42\n",
}


def write_provider(folder: Path, reply: str, *, prefix: str = "p", delay: float = 0.0) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "plugin.toml").write_text(f'[plugin]\nname = "{folder.name}"\nversion = "1"\n')
    # Write the code in one replace so the watcher never sees a half-written file.
    tmp = folder / ".plugin.py.tmp"
    tmp.write_text(textwrap.dedent(PROVIDER.format(prefix=prefix, reply=reply, delay=delay)))
    tmp.replace(folder / "plugin.py")


def write_broken(folder: Path, kind: str) -> None:
    tmp = folder / ".plugin.py.tmp"
    tmp.write_text(BROKEN[kind])
    tmp.replace(folder / "plugin.py")


class Session:
    def __init__(self, client: AsyncClient) -> None:
        self.client = client
        self.changes: list[dict] = []
        client.on_notification("plugins/didChange", self._changed)

    def _changed(self, params: dict) -> None:
        self.changes.extend(params["changes"])

    async def reply(self, model: str = "p/echo") -> str:
        result = await self.client.chat(model, [{"role": "user", "content": "x"}])
        return result.message.content or ""

    async def wait_reply(self, expected: str, model: str = "p/echo", timeout: float = 15) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        last = None
        while loop.time() < deadline:
            try:
                last = await self.reply(model)
            except LLMError as exc:  # the model may be gone for a moment
                last = repr(exc)
            if last == expected:
                return
            await asyncio.sleep(0.02)
        raise AssertionError(f"expected {expected!r}, last reply {last!r}")

    async def wait_change(self, predicate, timeout: float = 15) -> dict:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            for change in self.changes:
                if predicate(change):
                    return change
            await asyncio.sleep(0.02)
        raise AssertionError(f"no matching plugins/didChange in {self.changes}")


async def start(tmp_path: Path, plugins: Path, *args: str) -> Session:
    env = home_environ(tmp_path / "home", {"LLF_HOST_PLUGINS": ",".join(_names(plugins))})
    client = await AsyncClient.spawn(
        *args, options=["--plugins-dir", str(plugins)], env=env, stderr=asyncio.subprocess.DEVNULL
    )
    await client.initialize(client_info={"name": "reload-test"})
    return Session(client)


def _names(plugins: Path) -> list[str]:
    # Only the test's plugins (plus any it adds later, named t_*): built-ins stay off.
    return [p.name for p in plugins.iterdir()] + [f"t_{i}" for i in range(5)]


async def test_edit_add_remove_and_last_good_version(tmp_path):
    plugins = tmp_path / "plugins"
    write_provider(plugins / "alpha", "one")
    session = await start(tmp_path, plugins)
    try:
        assert await session.reply() == "one"

        write_provider(plugins / "alpha", "two")
        await session.wait_reply("two")

        for kind in BROKEN:
            session.changes.clear()
            write_broken(plugins / "alpha", kind)
            change = await session.wait_change(lambda c: c.get("plugin") == "alpha")
            assert change["change"] == "reload_failed"
            error = change["error"]
            assert error["message"] and error["data"].get("hint")
            if kind != "bad_hook":
                assert error["data"]["file"].endswith("plugin.py")
                assert error["data"]["line"] == 1
            assert await session.reply() == "two"  # last good version keeps serving

        write_provider(plugins / "alpha", "three")
        await session.wait_reply("three")
        listed = await session.client.request("plugins/list")
        alpha = next(p for p in listed["plugins"] if p["name"] == "alpha")
        assert alpha["status"] == "ok" and "error" not in alpha

        write_provider(plugins / "t_0", "new plugin", prefix="q")
        await session.wait_reply("new plugin", model="q/echo")
        shutil.rmtree(plugins / "t_0")
        await session.wait_change(lambda c: c.get("plugin") == "t_0" and c["change"] == "removed")
        models = await session.client.request("models/list")
        assert not any(m["id"].startswith("q/") for m in models["models"])
    finally:
        await session.client.aclose()


async def test_in_flight_request_finishes_on_its_version(tmp_path):
    plugins = tmp_path / "plugins"
    write_provider(plugins / "slow", "old answer slowly", delay=0.3)
    session = await start(tmp_path, plugins)
    try:
        in_flight = asyncio.create_task(session.reply())
        await asyncio.sleep(0.2)
        write_provider(plugins / "slow", "new")
        await session.wait_reply("new")
        assert await in_flight == "old answer slowly"
    finally:
        await session.client.aclose()


async def test_manual_reload_and_no_watch(tmp_path):
    plugins = tmp_path / "plugins"
    write_provider(plugins / "alpha", "one")
    session = await start(tmp_path, plugins, "--no-watch")
    try:
        write_provider(plugins / "alpha", "two")
        await asyncio.sleep(0.5)
        assert await session.reply() == "one"  # not watching
        result = await session.client.request("plugins/reload", {"name": "alpha"})
        assert result["status"] == "ok"
        assert await session.reply() == "two"
        write_broken(plugins / "alpha", "syntax")
        result = await session.client.request("plugins/reload", {"name": "alpha"})
        assert result["error"]["data"]["line"] == 1
        assert await session.reply() == "two"
    finally:
        await session.client.aclose()


@pytest.mark.slow
async def test_chaos_edits_while_requests_flow(tmp_path):
    """≥100 random edits (valid and broken) while a client keeps asking: none lost."""
    rng = random.Random(1234)
    plugins = tmp_path / "plugins"
    write_provider(plugins / "alpha", "v0")
    session = await start(tmp_path, plugins)
    answered = 0
    stop = asyncio.Event()

    async def ask_forever() -> None:
        nonlocal answered
        while not stop.is_set():
            result = await session.reply()
            assert result.startswith("v"), result
            answered += 1

    asker = asyncio.create_task(ask_forever())
    last_valid = "v0"
    try:
        for i in range(1, 121):
            if rng.random() < 0.3:
                write_broken(plugins / "alpha", rng.choice(list(BROKEN)))
            else:
                last_valid = f"v{i}"
                write_provider(plugins / "alpha", last_valid)
            await asyncio.sleep(rng.uniform(0.0, 0.06))
        write_provider(plugins / "alpha", last_valid)  # a final valid write settles it
        await session.wait_reply(last_valid, timeout=30)
        stop.set()
        await asyncio.wait_for(asker, 30)
        assert answered > 0
        health = await session.client.request("host/health")
        assert health["plugins"]["failed"] == 0
    finally:
        stop.set()
        asker.cancel()
        await session.client.aclose()


def test_cli_reload_validates_first(tmp_path):
    import subprocess

    home = tmp_path / "home"
    plugins = home / "data" / "plugins"
    write_provider(plugins / "alpha", "one")
    env = home_environ(home)
    ok = subprocess.run(
        [sys.executable, "-m", "llf_host._cli", "plugins", "reload", "alpha"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert ok.returncode == 0 and "watching hosts will reload it" in ok.stdout
    write_broken(plugins / "alpha", "syntax")
    bad = subprocess.run(
        [sys.executable, "-m", "llf_host._cli", "plugins", "reload", "alpha"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 1 and "SyntaxError" in bad.stderr
    assert "running hosts keep the last good version" in bad.stderr
