"""The client library: the sync face, streaming, closing."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from llf_host import ModelNotFoundError
from llf_host.client import AsyncClient
from llf_host.client import Client
from llf_host.client import ConnectionLostError

from .conftest import WAIT
from .conftest import serve_environ

USER = [{"role": "user", "content": "one two"}]


def test_sync_client(serve_home: Path) -> None:
    with Client.spawn("--no-watch", env=serve_environ(serve_home)) as client:
        info = client.initialize(client_info={"name": "sync-test"})
        assert info["serverInfo"]["name"] == "llf-host"
        assert client.request("host/echo", {"value": [1]}) == {"value": [1]}
        stream = client.stream_chat("mock/echo", USER)
        assert [d.content for d in stream] == ["one", " two"]
        assert stream.result is not None
        assert stream.result.message.content == "one two"
        assert client.chat("mock/echo", USER).usage.completion_tokens == 2
        with pytest.raises(ModelNotFoundError):
            client.chat("mock2/echo", USER)
    assert client._async.process is not None
    assert client._async.process.returncode == 0


async def test_await_a_stream_for_its_result(client: AsyncClient) -> None:
    result = await client.stream_chat("mock/echo", USER)
    assert result.message.content == "one two"


async def test_abandoned_stream_is_cancelled(client: AsyncClient) -> None:
    async def until(check: Callable[[dict[str, Any]], bool]) -> None:
        while not check(await client.request("host/health")):
            await asyncio.sleep(0.01)

    async with client.stream_chat("mock/slow", USER, options={"extra": {"sleep": 60}}) as stream:
        stream.__aiter__()  # starts the request
        await asyncio.wait_for(until(lambda h: h["in_flight"] >= 1), WAIT)
        assert stream.result is None
    await asyncio.wait_for(until(lambda h: h["in_flight"] == 0), WAIT)
    assert (await client.request("host/metrics"))["cancelled"] == 1


async def test_server_death_fails_pending_requests(serve_home: Path) -> None:
    client = await AsyncClient.spawn("--no-watch", env=serve_environ(serve_home))
    await client.initialize()
    assert client.process is not None
    client.process.kill()
    with pytest.raises(ConnectionLostError):
        await client.request("host/echo", {"value": 1}, timeout=WAIT)
    assert await client.aclose() == -9
