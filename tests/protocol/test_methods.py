"""The built-in method families over a real server: host/*, plugins/*, models/*, chat/*."""

from __future__ import annotations

import pytest

from llf_host import ChatResult
from llf_host import ModelNotFoundError
from llf_host import PluginError
from llf_host import ProviderUnavailableError
from llf_host.client import AsyncClient
from llf_host.client import InvalidParamsError
from llf_host.client import MethodNotFoundError

from .conftest import RawServer

USER = [{"role": "user", "content": "hello streaming world"}]


async def test_echo_returns_the_value(client: AsyncClient) -> None:
    value = {"text": "ünïcödé ✓", "n": [1, 2.5, None, True], "nested": {"a": {}}}
    assert await client.request("host/echo", {"value": value}) == {"value": value}
    assert await client.request("host/echo") == {"value": None}


async def test_health_and_metrics(client: AsyncClient) -> None:
    for _ in range(3):
        await client.request("host/echo", {"value": 1})
    health = await client.request("host/health")
    assert health["plugins"] == {"ok": 1, "failed": 0, "disabled": health["plugins"]["disabled"]}
    assert health["version"]
    assert health["uptime_s"] >= 0
    assert health["in_flight"] == 0
    metrics = await client.request("host/metrics")
    echo = metrics["methods"]["host/echo"]
    assert echo["count"] == 3
    assert echo["errors"] == 0
    assert echo["p50_ms"] is not None
    assert echo["p99_ms"] >= echo["p50_ms"]
    assert metrics["methods"]["initialize"]["count"] == 1


async def test_plugins_list(client: AsyncClient) -> None:
    plugins = {p["name"]: p for p in (await client.request("plugins/list"))["plugins"]}
    mock = plugins["mockprov"]
    assert mock["status"] == "ok"
    assert mock["contributes"] == {"providers": ["mock", "broken"]}
    assert mock["hooks"] == ["llf_providers"]


async def test_models_list_reports_a_failing_provider_without_failing(client: AsyncClient) -> None:
    listing = await client.request("models/list")
    assert [m["id"] for m in listing["models"]] == [
        "mock/echo",
        "mock/slow",
        "mock/fail",
        "mock/crash",
    ]
    assert len(listing["errors"]) == 1
    broken = listing["errors"][0]
    assert broken["provider"] == "broken"
    assert broken["plugin"] == "mockprov"
    assert broken["error"]["code"] == PluginError.code
    assert "cannot list" in broken["error"]["message"]
    only = await client.request("models/refresh", {"provider": "mock"})
    assert only["errors"] == []
    assert len(only["models"]) == 4


async def test_chat_complete(client: AsyncClient) -> None:
    result = await client.chat("mock/echo", USER)
    assert isinstance(result, ChatResult)
    assert result.message.content == "hello streaming world"
    assert result.finish_reason == "stop"
    assert result.usage.completion_tokens == 3
    assert result.provider == "mock"
    assert result.timings.total_ms is not None


async def test_chat_stream_deltas_and_full_result(client: AsyncClient) -> None:
    stream = client.stream_chat("mock/echo", USER)
    deltas = [delta.content async for delta in stream]
    assert deltas == ["hello", " streaming", " world"]
    assert stream.result is not None
    assert stream.result.message.content == "hello streaming world"
    assert stream.result.usage.completion_tokens == 3


async def test_progress_notifications_on_the_wire(raw_server: RawServer) -> None:
    await raw_server.initialize()
    reply = await raw_server.call(
        "chat/complete",
        {"model": "mock/echo", "messages": USER, "stream": {"token": 42}},
    )
    progress = [m["params"] for m in raw_server.messages if m.get("method") == "$/progress"]
    assert progress == [
        {"token": 42, "value": {"kind": "delta", "content": "hello"}},
        {"token": 42, "value": {"kind": "delta", "content": " streaming"}},
        {"token": 42, "value": {"kind": "delta", "content": " world"}},
    ]
    # The final response still carries the whole result.
    assert reply["result"]["message"]["content"] == "hello streaming world"
    # And every notification came before the response.
    assert raw_server.messages.index(reply) > max(
        i for i, m in enumerate(raw_server.messages) if m.get("method") == "$/progress"
    )


async def test_errors_keep_their_class(client: AsyncClient) -> None:
    with pytest.raises(ModelNotFoundError) as missing:
        await client.chat("nowhere/model", USER)
    assert missing.value.data["model"] == "nowhere/model"
    assert "mock/" in (missing.value.hint or "")
    with pytest.raises(ProviderUnavailableError) as down:
        await client.chat("mock/fail", USER)
    assert down.value.hint == "start the mock engine"
    assert down.value.data["plugin"] == "mockprov"
    with pytest.raises(PluginError) as crashed:
        await client.chat("mock/crash", USER)
    assert crashed.value.data["plugin"] == "mockprov"
    assert "RuntimeError: boom" in crashed.value.message
    assert "Traceback" not in crashed.value.message


async def test_invalid_params_name_the_field(client: AsyncClient) -> None:
    with pytest.raises(InvalidParamsError) as wrong_type:
        await client.request("chat/complete", {"model": "mock/echo", "messages": [{"role": 7}]})
    assert wrong_type.value.data["field"] == "messages[0].role"
    assert wrong_type.value.rpc_code == -32602
    with pytest.raises(InvalidParamsError) as missing:
        await client.request("chat/complete", {"messages": USER, "stream": {}})
    assert missing.value.data["field"] == "stream.token"
    with pytest.raises(InvalidParamsError) as unknown:
        await client.request("host/echo", {"value": 1, "extra": 2})
    assert unknown.value.data["field"] == "extra"
    with pytest.raises(InvalidParamsError) as positional:
        await client.request("host/echo", [1, 2])
    assert positional.value.data["field"] == "(params)"
    with pytest.raises(InvalidParamsError) as empty:
        await client.chat("mock/echo", [])
    assert empty.value.data["field"] == "messages"


async def test_unknown_method(client: AsyncClient) -> None:
    with pytest.raises(MethodNotFoundError) as unknown:
        await client.request("host/ecko", {"value": 1})
    assert "host/echo" in (unknown.value.hint or "")
    with pytest.raises(MethodNotFoundError):
        await client.request("$/somethingPrivate")
