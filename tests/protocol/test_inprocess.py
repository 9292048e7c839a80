"""Server-side hooks, tested in process: server→client requests, logs, broadcasts, slots."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest

from llf_host import LLMError
from llf_host import ToolDenied
from llf_host._rpc import wire
from llf_host._rpc.dispatcher import plugin_slot
from llf_host._rpc.families import unknown_method_error
from llf_host._rpc.framing import encode_frame
from llf_host._rpc.registry import METHODS
from llf_host._rpc.registry import rpc_method

from .inprocess import served


class AskParams(msgspec.Struct):
    timeout: float = 5.0


@pytest.fixture
def test_methods() -> Iterator[None]:
    """Methods that exist only for these tests."""

    @rpc_method("test/ask", params=AskParams)
    async def ask(ctx: Any, params: AskParams) -> Any:
        return await ctx.request_client("client/approve", {"tool": "rm"}, timeout=params.timeout)

    @rpc_method("test/hold")
    async def hold(ctx: Any, params: Any) -> None:
        async with plugin_slot(ctx.host, "holder"):
            await asyncio.sleep(60)

    try:
        yield
    finally:
        METHODS.pop("test/ask", None)
        METHODS.pop("test/hold", None)


async def test_server_to_client_request(tmp_path: Path, test_methods: None) -> None:
    async with served(tmp_path) as (_server, client):
        await client.initialize()
        seen: list[Any] = []

        def approve(params: Any) -> dict[str, bool]:
            seen.append(params)
            return {"approved": True}

        client.on_request("client/approve", approve)
        assert await client.request("test/ask") == {"approved": True}
        assert seen == [{"tool": "rm"}]


async def test_client_error_reaches_the_handler(tmp_path: Path, test_methods: None) -> None:
    async with served(tmp_path) as (_server, client):
        await client.initialize()

        async def refuse(params: Any) -> None:
            raise ToolDenied("the user said no", hint="ask again later", tool="rm")

        client.on_request("client/approve", refuse)
        with pytest.raises(ToolDenied) as denied:
            await client.request("test/ask")
        assert denied.value.data["tool"] == "rm"


async def test_unanswered_client_request_times_out(tmp_path: Path, test_methods: None) -> None:
    async with served(tmp_path) as (_server, client):
        await client.initialize()

        async def never(params: Any) -> None:
            await asyncio.sleep(60)

        client.on_request("client/approve", never)
        with pytest.raises(LLMError) as late:
            await client.request("test/ask", {"timeout": 0.1})
        assert "did not answer client/approve" in late.value.message


async def test_unhandled_client_request_is_method_not_found(
    tmp_path: Path, test_methods: None
) -> None:
    async with served(tmp_path) as (_server, client):
        await client.initialize()
        with pytest.raises(LLMError) as missing:
            await client.request("test/ask")
        assert "does not handle client/approve" in missing.value.message


async def test_cancel_before_the_task_runs_still_releases_the_plugin_slot(
    tmp_path: Path, test_methods: None
) -> None:
    async with served(tmp_path) as (server, client):
        await client.initialize()
        request = wire.encode_request("held", "test/hold", None)
        cancel = wire.encode_notification("$/cancelRequest", {"id": "held"})
        # One write: the handler takes its slot eagerly, the cancel comes in the same read.
        client._writer.write(encode_frame(request) + encode_frame(cancel))

        async def settled() -> None:
            while (await client.request("host/metrics"))["cancelled"] < 1:
                await asyncio.sleep(0.01)

        await asyncio.wait_for(settled(), 10)
        assert server.limiter.busy() == {}
        assert server.dispatcher.in_flight == 0


async def test_log_records_and_broadcasts_reach_the_client(tmp_path: Path) -> None:
    async with served(tmp_path) as (server, client):
        logs: list[Any] = []
        changes: list[Any] = []
        client.on_notification("window/logMessage", logs.append)
        client.on_notification("plugins/didChange", changes.append)
        server.service.plugins_did_change([{"plugin": "early", "change": "reloaded"}])
        await client.initialize(initialization_options={"logLevel": "info"})
        logging.getLogger("llf.test").info("hello from the host")
        logging.getLogger("llf.test").debug("too detailed")
        server.service.plugins_did_change([{"plugin": "x", "change": "reloaded"}])
        await client.request("host/echo", {"value": 1})  # flushes what came before
        assert {"type": 3, "message": "llf.test: hello from the host"} in logs
        assert not any("too detailed" in entry["message"] for entry in logs)
        assert changes == [{"changes": [{"plugin": "x", "change": "reloaded"}], "plugins": []}]
        assert server.service.watch is False


async def test_handler_exceptions_do_not_leak_tracebacks(tmp_path: Path) -> None:
    @rpc_method("test/bug")
    async def bug(ctx: Any, params: Any) -> None:
        await asyncio.sleep(0)
        raise KeyError("secret-ish detail")

    @rpc_method("test/unencodable")
    async def unencodable(ctx: Any, params: Any) -> Any:
        return object()

    try:
        async with served(tmp_path) as (_server, client):
            await client.initialize()
            for method in ("test/bug", "test/unencodable"):
                with pytest.raises(LLMError) as internal:
                    await client.request(method)
                assert internal.value.data["code"] == -32603
                assert "secret-ish" not in str(internal.value)
                assert "Traceback" not in str(internal.value)
            assert await client.request("host/echo", {"value": 3}) == {"value": 3}
    finally:
        METHODS.pop("test/bug", None)
        METHODS.pop("test/unencodable", None)


def test_missing_family_is_not_available_with_a_hint() -> None:
    error = unknown_method_error("tools/call", ["host/echo", "chat/complete"])
    assert error["code"] == -32601
    assert error["data"]["kind"] == "not_available"
    assert error["data"]["family"] == "tools"
    assert "tools feature" in error["data"]["hint"]
    typo = unknown_method_error("chat/complet", ["host/echo", "chat/complete"])
    assert typo["data"]["kind"] == "method_not_found"
    assert "chat/complete" in typo["data"]["hint"]
