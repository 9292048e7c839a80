"""Size limits: an oversized message fails alone, the connection lives on."""

from __future__ import annotations

from pathlib import Path

from .conftest import RawServer
from .conftest import serve_environ


async def test_oversized_request_gets_an_error_and_the_connection_survives(
    serve_home: Path,
) -> None:
    env = serve_environ(serve_home, LLF_HOST__PROTOCOL__MAX_MESSAGE_BYTES="4096")
    server = await RawServer.spawn(env)
    try:
        init = await server.initialize()
        assert init["result"]["limits"]["maxMessageBytes"] == 4096
        big = server.request("host/echo", {"value": "x" * 100_000}, rid="big-one")
        reply = await server.reply(big)
        error = reply["error"]
        assert error["code"] == -32600
        assert error["data"]["kind"] == "message_too_large"
        assert error["data"]["limit"] == 4096
        assert error["data"]["size"] > 100_000
        assert error["data"]["method"] == "host/echo"
        assert "max_message_bytes" in error["data"]["hint"]
        # Just under the limit is fine, and the stream is still in step.
        value = "y" * 3900
        assert (await server.call("host/echo", {"value": value}))["result"] == {"value": value}
        assert server.frame_errors == []
    finally:
        await server.aclose()


async def test_large_payloads_round_trip(raw_server: RawServer) -> None:
    await raw_server.initialize()
    value = "é" * (1 << 20)  # 2 MiB of UTF-8, more than one pipe buffer each way
    reply = await raw_server.call("host/echo", {"value": value})
    assert reply["result"]["value"] == value


async def test_invalid_protocol_config_is_reported(serve_home: Path) -> None:
    env = serve_environ(serve_home, LLF_HOST__PROTOCOL__MAX_MESSAGE_BYTES="12")
    server = await RawServer.spawn(env, stderr=-1)
    code = await server.wait_exit()
    assert code == 1
    assert server.process.stderr is not None
    message = (await server.process.stderr.read()).decode()
    assert "max_message_bytes" in message
