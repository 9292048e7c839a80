"""Hot reload in process: a watched folder, real file edits, the registry follows."""

from __future__ import annotations

import asyncio
import textwrap
from pathlib import Path

import pytest

from llf_host import ChatRequest
from llf_host import Message
from llf_host._chat import stream_chat
from llf_host._reload import PluginWatcher
from llf_host._reload import affected_entries

PROVIDER = """
from llf_host import hookimpl
from llf_host.testing import MockProvider

@hookimpl
def llf_providers():
    return MockProvider("{prefix}", reply="{reply}", delay={delay})
"""


def write_provider(folder: Path, reply: str, *, prefix: str = "p", delay: float = 0.0) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "plugin.toml").write_text(f'[plugin]\nname = "{folder.name}"\nversion = "1"\n')
    (folder / "plugin.py").write_text(
        textwrap.dedent(PROVIDER.format(prefix=prefix, reply=reply, delay=delay))
    )


async def ask(host, model: str = "p/echo") -> str:
    result = await stream_chat(
        host.registry, ChatRequest(model=model, messages=[Message(role="user", content="x")])
    )
    return result.message.content or ""


async def wait_for(predicate, timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.02)


def test_changes_are_grouped_per_plugin(tmp_path):
    root = tmp_path / "plugins"
    (root / "a" / "sub").mkdir(parents=True)
    changed = [
        root / "a" / "plugin.py",
        root / "a" / "sub" / "x.py",
        root / "a" / "__pycache__" / "plugin.cpython-311.pyc",
        root / "b.py",
        root / "notes.txt",
        root / ".hidden" / "plugin.py",
        tmp_path / "elsewhere.py",
    ]
    assert affected_entries(changed, [(root, "dir")]) == {
        root / "a": "dir",
        root / "b.py": "dir",
    }


async def test_edit_add_remove_and_broken_versions(tmp_path, make_host):
    plugins = tmp_path / "plugins"
    write_provider(plugins / "alpha", "one")
    host = await make_host(plugins=[plugins])
    watcher = PluginWatcher(host)
    watcher.start()
    await asyncio.wait_for(watcher.ready.wait(), 10)
    try:
        assert await ask(host) == "one"

        # An edit is picked up.
        write_provider(plugins / "alpha", "two")
        await wait_for(lambda: _reply(host) == "two")
        assert await ask(host) == "two"

        # A syntax error keeps the last good version and reports file and line.
        (plugins / "alpha" / "plugin.py").write_text("def broken(:\n")
        await wait_for(lambda: host.plugins["alpha"].error is not None)
        assert await ask(host) == "two"
        err = host.plugins["alpha"].error
        assert err is not None and err.data["line"] == 1
        assert err.data["file"].endswith("plugin.py")

        # An import-time exception too.
        (plugins / "alpha" / "plugin.py").write_text("raise ValueError('nope')\n")
        await wait_for(lambda: "nope" in str(host.plugins["alpha"].error))
        assert await ask(host) == "two"

        # Fixing it clears the error.
        write_provider(plugins / "alpha", "three")
        await wait_for(lambda: host.plugins["alpha"].error is None)
        assert await ask(host) == "three"

        # A new plugin appears; a removed one disappears.
        write_provider(plugins / "beta", "bee", prefix="q")
        await wait_for(lambda: "q" in host.registry.providers)
        assert await ask(host, "q/echo") == "bee"
        import shutil

        shutil.rmtree(plugins / "beta")
        await wait_for(lambda: "q" not in host.registry.providers)
        assert "beta" not in host.plugins
    finally:
        await watcher.aclose()


def _reply(host) -> str | None:
    entry = host.registry.providers.get("p")
    return getattr(entry.obj, "_reply", None) if entry else None


async def test_in_flight_request_finishes_on_old_version(tmp_path, make_host):
    plugins = tmp_path / "plugins"
    write_provider(plugins / "slow", "old version answer", delay=0.05)
    host = await make_host(plugins=[plugins])
    old_entry = host.registry.providers["p"]
    in_flight = asyncio.create_task(ask(host))
    await wait_for(lambda: old_entry.lease.active == 1)
    write_provider(plugins / "slow", "new")
    new = await host.reload_plugin("slow")
    assert new.status == "ok"
    assert await ask(host) == "new"
    assert await in_flight == "old version answer"
    await wait_for(lambda: old_entry.lease.active == 0)


async def test_reload_unknown_plugin_is_a_clear_error(make_host):
    host = await make_host()
    from llf_host import PluginError

    with pytest.raises(PluginError, match="no drop-in plugin named 'ghost'"):
        await host.reload_plugin("ghost")
