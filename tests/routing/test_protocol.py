"""budget/*, routing/*, chat/compare and stats/get over the real protocol.

Two clients talk to one host through two protocol sessions (real pipes, real
framing, the real dispatcher): a budget made by one is spent by the other.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys

import pytest

from llf_host import BudgetExceededError
from llf_host._rpc.server import Server
from llf_host.client import AsyncClient
from llf_host.client import InvalidParamsError
from llf_host.testing import home_environ

from .conftest import SCRIPTED

USER = [{"role": "user", "content": "hello there"}]


async def connect(host) -> tuple[AsyncClient, asyncio.Task[int]]:
    """A client on its own protocol session with ``host``, over two OS pipes."""
    to_server_r, to_server_w = os.pipe()
    to_client_r, to_client_w = os.pipe()
    session = asyncio.ensure_future(Server(host, watch=False).serve(to_server_r, to_client_w))
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(to_client_r, "rb", 0)
    )
    transport, protocol = await loop.connect_write_pipe(
        lambda: asyncio.StreamReaderProtocol(asyncio.StreamReader()),
        os.fdopen(to_server_w, "wb", 0),
    )
    writer = asyncio.StreamWriter(transport, protocol, None, loop)
    client = AsyncClient(reader, writer)
    await asyncio.wait_for(client.initialize(client_info={"name": "test"}), 10)
    return client, session


@contextlib.asynccontextmanager
async def two_clients(make_host, config=None):
    host = await make_host(plugins=[SCRIPTED], config=config or {})
    first, first_session = await connect(host)
    second, second_session = await connect(host)
    try:
        yield host, first, second
    finally:
        for client in (first, second):
            await client.aclose(timeout=5)
        await asyncio.wait_for(asyncio.gather(first_session, second_session), 10)


async def test_two_clients_share_one_budget(make_host):
    async with two_clients(make_host) as (host, alice, bob):
        made = await alice.request("budget/create", {"limit_tokens": 40, "label": "team"})
        assert made["remaining_tokens"] == 40 and made["parent"] is None
        budget = made["id"]

        result = await alice.chat("local/a", USER, options={"max_tokens": 10}, budget=budget)
        assert result.route["budget"] == budget

        seen_by_bob = await bob.request("budget/get", {"id": budget})
        assert seen_by_bob["spent_tokens"] == 15 and seen_by_bob["requests"] == 1

        with pytest.raises(BudgetExceededError) as info:
            await bob.chat("local/a", USER, options={"max_tokens": 30}, budget=budget)
        assert info.value.data["budget"] == budget
        local = host.registry.providers["local"].obj
        assert local.calls == ["local/a"]  # refused before the provider was called

        child = await bob.request(
            "budget/create", {"limit_tokens": 1000, "parent": budget, "label": "bob"}
        )
        assert child["limit_tokens"] == 25 and child["parent"] == budget
        await bob.chat("local/a", USER, options={"max_tokens": 5}, budget=child["id"])
        parent = await alice.request("budget/get", {"id": budget})
        assert parent["spent_tokens"] == 30 and parent["children"] == [child["id"]]

        listed = await alice.request("budget/list")
        assert {b["id"] for b in listed["budgets"]} == {budget, child["id"]}
        closed = await bob.request("budget/close", {"id": budget})
        assert sorted(closed["closed"]) == sorted([budget, child["id"]])
        with pytest.raises(Exception, match="no budget with id"):
            await alice.request("budget/get", {"id": budget})


async def test_concurrent_requests_from_two_clients_never_overspend(make_host):
    async with two_clients(make_host) as (host, alice, bob):
        local = host.registry.providers["local"].obj
        local.gate.clear()
        local.script["local/a"] = ["slow"] * 6
        budget = (await alice.request("budget/create", {"limit_tokens": 100}))["id"]
        calls = [
            client.chat("local/a", USER, options={"max_tokens": 40}, budget=budget)
            for client in (alice, bob, alice, bob, alice, bob)
        ]
        running = asyncio.gather(*calls, return_exceptions=True)
        for _ in range(200):
            if len(local.calls) >= 2:
                break
            await asyncio.sleep(0.005)
        local.gate.set()
        outcomes = await asyncio.wait_for(running, 10)
        ok = [o for o in outcomes if not isinstance(o, BaseException)]
        refused = [o for o in outcomes if isinstance(o, BudgetExceededError)]
        assert len(ok) == 2 and len(refused) == 4  # each reserves ~45 of 100
        state = await bob.request("budget/get", {"id": budget})
        assert state["spent_tokens"] == 30 and state["reserved_tokens"] == 0


async def test_routing_policy_over_the_protocol(make_host):
    async with two_clients(make_host) as (host, alice, bob):
        policy = {
            "rules": [
                {"name": "code", "task": "code", "prefer": ["local/b"], "fallback": ["cloud/b"]}
            ]
        }
        answer = await alice.request("routing/set", {"policy": policy})
        assert answer["policy"]["rules"][0]["name"] == "code"
        state = await bob.request("routing/get")
        assert state["policy"]["rules"][0]["prefer"] == ["local/b"]
        assert state["prices_version"]

        host.registry.providers["local"].obj.script["local/b"] = ["down"]
        result = await bob.request("chat/complete", {"messages": USER, "task": "code"})
        assert result["route"]["served_by"] == "cloud/b"
        assert result["route"]["tried"][0]["error"] == "down"

        with pytest.raises(InvalidParamsError) as info:
            await alice.request("routing/set", {"policy": {"rules": [{"name": "x"}]}})
        assert "policy" in str(info.value)
        still = await alice.request("routing/get")
        assert still["policy"]["rules"][0]["name"] == "code"


async def test_compare_and_stats_over_the_protocol(make_host):
    async with two_clients(make_host) as (_host, alice, bob):
        answer = await alice.request(
            "chat/compare", {"models": ["local/a", "cloud/b", "nowhere/x"], "messages": USER}
        )
        results = answer["results"]
        assert [r["model"] for r in results] == ["local/a", "cloud/b", "nowhere/x"]
        assert results[0]["ok"] and results[0]["result"]["message"]["content"] == (
            "answer from local/a"
        )
        assert results[1]["result"]["route"]["served_by"] == "cloud/b"
        assert not results[2]["ok"] and results[2]["error"]["data"]["kind"] == "model_not_found"
        assert all(r["wall_ms"] >= 0 for r in results)

        stats = await bob.request("stats/get", {"since": "1h"})
        assert stats["total"]["requests"] == 3 and stats["total"]["errors"] == 1
        assert set(stats["by_model"]) == {"local/a", "cloud/b", "nowhere/x"}
        assert stats["by_route"]["direct"]["requests"] == 3
        with pytest.raises(InvalidParamsError):
            await bob.request("stats/get", {"since": "yesterday"})
        with pytest.raises(InvalidParamsError):
            await bob.request("chat/compare", {"models": [], "messages": USER})


async def test_serve_subprocess_end_to_end(tmp_path):
    env = home_environ(tmp_path / "home")
    client = await AsyncClient.spawn(
        options=["--plugins-dir", str(SCRIPTED.parent)],
        env=env,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        await asyncio.wait_for(client.initialize(), 30)
        budget = await client.request("budget/create", {"limit_tokens": 500})
        result = await client.chat("local/a", USER, options={"max_tokens": 20}, budget=budget["id"])
        assert result.route["served_by"] == "local/a" and result.cost == 0.0
        state = await client.request("budget/get", {"id": budget["id"]})
        assert state["spent_tokens"] == 15
    finally:
        code = await client.aclose(timeout=10)
    assert code == 0, sys.stderr


async def test_streamed_routed_chat_sends_only_the_serving_models_tokens(make_host):
    config = {
        "routing": {
            "default_rule": "r",
            "rules": [{"name": "r", "prefer": ["local/a"], "fallback": ["cloud/a"]}],
        }
    }
    async with two_clients(make_host, config) as (host, alice, _bob):
        host.registry.providers["local"].obj.script["local/a"] = ["down"]
        stream = alice.stream_chat("", USER)
        pieces = [chunk.content async for chunk in stream]
        assert "".join(pieces) == "answer from cloud/a"
        assert stream.result.route["served_by"] == "cloud/a"
        assert stream.result.route["tried"][0]["error"] == "down"
