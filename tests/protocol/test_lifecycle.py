"""Lifecycle of `llf-host serve`: initialize, shutdown, exit, end of input, dead client."""

from __future__ import annotations

import asyncio
import os
import signal

from llf_host import HOST_API_VERSION

from .conftest import RawServer


async def test_requests_before_initialize_get_32002(raw_server: RawServer) -> None:
    early = await raw_server.call("host/health")
    assert early["error"]["code"] == -32002
    assert early["error"]["data"]["kind"] == "not_initialized"
    raw_server.notify("$/setTrace", {"value": "off"})  # dropped, never answered
    answer = await raw_server.initialize(clientInfo={"name": "test", "version": "1"})
    assert "result" in answer
    health = await raw_server.call("host/health")
    assert health["result"]["plugins"]["ok"] == 1


async def test_initialize_describes_the_server(raw_server: RawServer) -> None:
    result = (await raw_server.initialize())["result"]
    assert result["serverInfo"]["name"] == "llf-host"
    assert result["hostApiVersion"] == HOST_API_VERSION
    capabilities = result["capabilities"]
    assert "host/echo" in capabilities["methods"]
    assert "chat/complete" in capabilities["methods"]
    assert capabilities["cancellation"] is True
    assert capabilities["streaming"] == {"progress": "$/progress", "finalResult": "full"}
    assert result["limits"]["maxMessageBytes"] >= 1 << 20
    plugins = {p["name"]: p for p in result["plugins"]}
    assert plugins["mockprov"]["status"] == "ok"
    assert plugins["mockprov"]["contributes"] == {"providers": ["mock", "broken"]}


async def test_second_initialize_is_an_invalid_request(raw_server: RawServer) -> None:
    await raw_server.initialize()
    again = await raw_server.call("initialize", {})
    assert again["error"]["code"] == -32600
    assert again["error"]["data"]["kind"] == "already_initialized"


async def test_shutdown_then_exit_ends_with_code_0(raw_server: RawServer) -> None:
    await raw_server.initialize()
    assert (await raw_server.call("shutdown"))["result"] is None
    late = await raw_server.call("host/echo", {"value": 1})
    assert late["error"]["code"] == -32600
    assert late["error"]["data"]["kind"] == "shut_down"
    raw_server.notify("exit")
    assert await raw_server.wait_exit() == 0
    assert raw_server.frame_errors == []


async def test_exit_without_shutdown_ends_with_code_1(raw_server: RawServer) -> None:
    await raw_server.initialize()
    raw_server.notify("exit")
    assert await raw_server.wait_exit() == 1


async def test_end_of_input_ends_the_server(raw_server: RawServer) -> None:
    await raw_server.initialize()
    slow = raw_server.request(
        "chat/complete",
        {
            "model": "mock/slow",
            "messages": [{"role": "user", "content": "x"}],
            "options": {"extra": {"sleep": 60}},
        },
    )
    await raw_server.close_stdin()
    # A running handler does not keep the process alive.
    assert await raw_server.wait_exit() == 0
    assert len(raw_server.replies(slow)) <= 1


async def test_dead_client_process_ends_the_server(raw_server: RawServer) -> None:
    parent = await asyncio.create_subprocess_exec("sleep", "60")
    try:
        await raw_server.initialize(processId=parent.pid)
        assert (await raw_server.call("host/echo", {"value": 1}))["result"] == {"value": 1}
        os.kill(parent.pid, signal.SIGKILL)
        await parent.wait()
        assert await raw_server.wait_exit() == 1
    finally:
        if parent.returncode is None:
            parent.kill()
            await parent.wait()


async def test_unknown_process_id_is_not_watched(raw_server: RawServer) -> None:
    # A pid the server cannot see (another pid namespace) must not end the session.
    await raw_server.initialize(processId=2**22 + 12345)
    assert (await raw_server.call("host/echo", {"value": 2}))["result"] == {"value": 2}
