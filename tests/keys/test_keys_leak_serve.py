"""The leak test through `llf-host serve`: the raw protocol stream, stderr and every file."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from pathlib import Path

import pytest

from llf_host import LLMError

from .helpers import PASSPHRASE
from .helpers import cli_env
from .helpers import files_under
from .helpers import run_cli
from .helpers import scan_for
from .helpers import write_plugin
from .test_keys_leak import LEAKY_PROVIDER
from .test_keys_leak import RECORDER
from .test_keys_leak import random_secrets

client_module = pytest.importorskip("llf_host.client")
MESSAGE = [{"role": "user", "content": "go"}]


async def _tee(source: asyncio.StreamReader, sink: asyncio.StreamReader, log: bytearray) -> None:
    while chunk := await source.read(65536):
        log.extend(chunk)
        sink.feed_data(chunk)
    sink.feed_eof()


async def serve_session(tmp_path: Path, api_url: str, calls):
    """Import keys with the CLI, run ``calls(client, values, results)`` against
    `llf-host --debug serve`; return (every blob to scan, the secrets)."""
    home = tmp_path / "home"
    values = random_secrets()
    plugins_root = tmp_path / "plugins"
    write_plugin(
        plugins_root,
        "leaky",
        LEAKY_PROVIDER,
        '[permissions]\nkeys = ["LEAK_API_KEY", "LEAK_TOKEN"]\nnetwork = ["127.0.0.1:*"]\n',
    )
    write_plugin(plugins_root, "recorder", RECORDER)
    env = cli_env(
        home,
        LLF_HOST_PASSPHRASE=PASSPHRASE,
        LLF_HOST_PLUGINS="leaky,recorder,audit_log",
        LLF_HOST__PLUGINS__LEAKY__URL=api_url,
    )
    imported = run_cli(
        ["keys", "import", "--from-env", "LEAK_API_KEY", "LEAK_TOKEN"], {**env, **values}
    )
    assert imported.returncode == 0, imported.stderr

    script = Path(sys.executable).parent / "llf-host"
    process = await asyncio.create_subprocess_exec(
        str(script),
        "--debug",
        "--plugins-dir",
        str(plugins_root),
        "--log-file",
        str(home / "logs" / "serve.log"),
        "serve",
        "--no-watch",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
        start_new_session=True,
    )
    assert process.stdout and process.stdin and process.stderr
    stream = bytearray()
    reader = asyncio.StreamReader()
    tee = asyncio.create_task(_tee(process.stdout, reader, stream))
    stderr_task = asyncio.create_task(process.stderr.read())
    client = client_module.AsyncClient(reader, process.stdin, process=process)
    results: list[object] = []
    try:
        async with asyncio.timeout(60):
            await client.initialize()
            await calls(client, values, results)
            await client.shutdown()
    finally:
        with contextlib.suppress(Exception):
            await client.aclose()
        if process.returncode is None:
            process.kill()
        await process.wait()
        await tee
    stderr = await stderr_task
    blobs = files_under(home)
    assert any(name.endswith("audit.jsonl") for name in blobs), sorted(blobs)
    blobs.update(
        {
            "protocol stream": bytes(stream),
            "serve stderr": stderr,
            "cli output": (imported.stdout + imported.stderr).encode(),
            "results": repr(results).encode(),
        }
    )
    return blobs, values


async def test_no_secret_leaks_through_serve(tmp_path, loopback_api):
    async def calls(client, values, results):
        results.append(
            await client.request(
                "keys/set", {"name": "LEAK_UNUSED", "value": values["LEAK_UNUSED"]}
            )
        )
        results.append(await client.request("keys/list"))
        results.append(
            await client.request("chat/complete", {"model": "leaky/ok", "messages": MESSAGE})
        )
        with pytest.raises(LLMError):
            await client.request("keys/delete", {"name": "NOT_THERE"})
        with pytest.raises(LLMError):
            await client.request("keys/set", {"name": "bad name", "value": values["LEAK_UNUSED"]})
        results.append(await client.request("plugins/list"))
        results.append(await client.request("host/health"))
        assert [k["name"] for k in results[1]["keys"]] == [
            "LEAK_API_KEY",
            "LEAK_TOKEN",
            "LEAK_UNUSED",
        ]
        assert results[2]["message"]["content"] == "done"

    blobs, values = await serve_session(tmp_path, loopback_api.url, calls)
    assert scan_for(values, blobs) == []


async def test_errors_that_carry_a_secret_are_redacted_on_the_wire(tmp_path, loopback_api):
    async def calls(client, values, results):
        for model in ("leaky/auth", "leaky/crash"):
            with pytest.raises(LLMError) as info:
                await client.request("chat/complete", {"model": model, "messages": MESSAGE})
            results.append(info.value.to_wire())

    blobs, values = await serve_session(tmp_path, loopback_api.url, calls)
    assert scan_for(values, blobs) == []
