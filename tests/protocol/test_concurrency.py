"""Concurrency and cancellation: requests overlap, cancels answer -32800, one reply each."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path
from typing import Any

import pytest

from llf_host.client import AsyncClient

from .conftest import RawServer
from .conftest import serve_environ


def slow_chat(seconds: float) -> dict[str, Any]:
    return {
        "model": "mock/slow",
        "messages": [{"role": "user", "content": "wait"}],
        "options": {"extra": {"sleep": seconds}},
    }


async def test_concurrent_requests_all_answered(client: AsyncClient) -> None:
    values = [f"v{i}-é" for i in range(200)]
    results = await asyncio.gather(
        *(client.request("host/echo", {"value": v}) for v in values),
        *(client.request("models/list") for _ in range(5)),
    )
    assert [r["value"] for r in results[:200]] == values
    assert all(r["models"] for r in results[200:])


async def test_slow_requests_run_together(client: AsyncClient) -> None:
    # Eight handlers that sleep a minute are all inside the plugin at once.
    tasks = [
        asyncio.ensure_future(client.request("chat/complete", slow_chat(60))) for _ in range(8)
    ]

    async def all_running() -> None:
        while (await client.request("host/health"))["plugin_calls"].get("mockprov", 0) < 8:
            await asyncio.sleep(0.02)

    await asyncio.wait_for(all_running(), 10)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def test_plugin_concurrency_limit_queues_calls(serve_home: Path) -> None:
    env = serve_environ(serve_home, LLF_HOST__HOST__PLUGIN_CONCURRENCY="2")
    async with await AsyncClient.spawn("--no-watch", env=env) as limited:
        await limited.initialize()
        tasks = [
            asyncio.ensure_future(limited.request("chat/complete", slow_chat(60))) for _ in range(5)
        ]

        async def two_running() -> None:
            while (await limited.request("host/health"))["in_flight"] < 5:
                await asyncio.sleep(0.02)

        await asyncio.wait_for(two_running(), 10)
        health = await limited.request("host/health")
        assert health["plugin_calls"] == {"mockprov": 2}
        # Other plugins' and the host's requests are not queued behind them.
        assert (await limited.request("host/echo", {"value": 1})) == {"value": 1}
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def test_compared_models_take_the_plugin_slot_like_chats(serve_home: Path) -> None:
    env = serve_environ(serve_home, LLF_HOST__HOST__PLUGIN_CONCURRENCY="1")
    async with await AsyncClient.spawn("--no-watch", env=env) as limited:
        await limited.initialize()
        slow = asyncio.ensure_future(limited.request("chat/complete", slow_chat(60)))

        async def health_shows(in_flight: int) -> dict[str, Any]:
            while True:
                health = await limited.request("host/health")
                if health["in_flight"] == in_flight and health["plugin_calls"]:
                    return health
                await asyncio.sleep(0.02)

        await asyncio.wait_for(health_shows(1), 10)
        # The slow chat holds the plugin's only slot: both compared models wait.
        compare = asyncio.ensure_future(
            limited.request(
                "chat/compare",
                {
                    "models": ["mock/echo", "mock/fail"],
                    "messages": [{"role": "user", "content": "hi"}],
                },
            )
        )
        health = await asyncio.wait_for(health_shows(2), 10)
        assert health["plugin_calls"] == {"mockprov": 1}
        await limited.request("host/echo", {"value": "a round trip later"})
        assert not compare.done()
        slow.cancel()
        answers = await asyncio.wait_for(compare, 10)
        assert [r["ok"] for r in answers["results"]] == [True, False]
        await asyncio.gather(slow, return_exceptions=True)


async def test_cancel_slow_handler_while_others_flow(raw_server: RawServer) -> None:
    await raw_server.initialize()
    slow = raw_server.request("chat/complete", slow_chat(60))
    for i in range(20):
        assert (await raw_server.call("host/echo", {"value": i}))["result"] == {"value": i}
    raw_server.notify("$/cancelRequest", {"id": slow})
    cancelled = await raw_server.reply(slow)
    assert cancelled["error"]["code"] == -32800
    assert cancelled["error"]["data"]["kind"] == "cancelled"
    assert (await raw_server.call("host/echo", {"value": "after"}))["result"] == {"value": "after"}
    metrics = (await raw_server.call("host/metrics"))["result"]
    assert metrics["methods"]["chat/complete"]["cancelled"] == 1
    assert metrics["in_flight"] == 0
    assert len(raw_server.replies(slow)) == 1


async def test_cancel_unknown_or_finished_request_is_harmless(raw_server: RawServer) -> None:
    await raw_server.initialize()
    done = await raw_server.call("host/echo", {"value": 1})
    raw_server.notify("$/cancelRequest", {"id": done["id"]})
    raw_server.notify("$/cancelRequest", {"id": 987654})
    raw_server.notify("$/cancelRequest", {"nothing": True})
    raw_server.notify("$/cancelRequest", None)
    assert (await raw_server.call("host/echo", {"value": 2}))["result"] == {"value": 2}
    assert len(raw_server.replies(done["id"])) == 1


async def test_client_cancellation_sends_cancel_request(client: AsyncClient) -> None:
    task = asyncio.ensure_future(client.request("chat/complete", slow_chat(60)))
    await asyncio.sleep(0.2)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    async def settled() -> None:
        while (await client.request("host/metrics"))["cancelled"] < 1:
            await asyncio.sleep(0.02)

    await asyncio.wait_for(settled(), 10)


async def test_thousand_in_flight_with_random_cancels(raw_server: RawServer) -> None:
    await raw_server.initialize()
    rng = random.Random(20261122)
    ids = []
    for i in range(1000):
        if i % 3 == 0:
            rid = raw_server.request("chat/complete", slow_chat(rng.uniform(0.0, 0.2)))
        else:
            rid = raw_server.request("host/echo", {"value": i})
        ids.append(rid)
        if rng.random() < 0.3:
            # Cancel something: just sent, long sent, or already answered.
            raw_server.notify("$/cancelRequest", {"id": rng.choice(ids)})
        if i % 100 == 0:
            await asyncio.sleep(0)
    for rid in rng.sample(ids, 100):
        raw_server.notify("$/cancelRequest", {"id": rid})
    await raw_server.wait_for(lambda: all(raw_server.replies(r) for r in ids), timeout=60)
    metrics = (await raw_server.call("host/metrics"))["result"]
    assert metrics["in_flight"] == 0  # nothing left that could still answer
    counts = [len(raw_server.replies(r)) for r in ids]
    assert counts == [1] * 1000
    for rid in ids:
        reply = raw_server.replies(rid)[0]
        assert "result" in reply or reply["error"]["code"] == -32800
    assert raw_server.frame_errors == []
