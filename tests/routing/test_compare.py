"""chat/compare: one prompt, several models at once, every answer with its timings."""

from __future__ import annotations

import asyncio

from llf_host import Message

from .conftest import ask


async def test_compare_runs_models_concurrently_and_keeps_their_order(routed):
    r = await routed()
    r.local.gate.clear()
    r.cloud.gate.clear()
    r.local.script["local/a"] = ["slow"]
    r.cloud.script["cloud/a"] = ["slow"]
    running = asyncio.ensure_future(
        r.router.compare(["cloud/a", "local/a"], [Message(role="user", content="hi")])
    )
    for _ in range(200):
        if r.local.calls and r.cloud.calls:
            break
        await asyncio.sleep(0.001)
    # Both models are in flight before either is allowed to answer.
    assert r.local.calls == ["local/a"] and r.cloud.calls == ["cloud/a"]
    r.local.gate.set()
    r.cloud.gate.set()
    answer = await asyncio.wait_for(running, 5)
    assert [x["model"] for x in answer["results"]] == ["cloud/a", "local/a"]
    for entry in answer["results"]:
        assert entry["ok"]
        assert entry["result"]["message"]["content"] == f"answer from {entry['model']}"
        assert entry["result"]["timings"]["total_ms"] >= 0 and entry["wall_ms"] >= 0


async def test_one_failing_model_does_not_fail_the_comparison(routed):
    r = await routed()
    r.cloud.script["cloud/b"] = ["auth"]
    answer = await r.router.compare(["local/a", "cloud/b"], ask().messages)
    ok, failed = answer["results"]
    assert ok["ok"] and not failed["ok"]
    assert failed["error"]["data"]["kind"] == "authentication"
    assert failed["error"]["data"]["route"]["tried"][0]["model"] == "cloud/b"


async def test_compare_shares_one_budget(routed):
    from llf_host._routing.budget import Budget

    r = await routed()
    budget = Budget(limit_tokens=1000)
    await r.router.compare(["local/a", "cloud/a", "local/b"], ask().messages, budget=budget)
    assert budget.spent_tokens == 45 and budget.requests == 3
