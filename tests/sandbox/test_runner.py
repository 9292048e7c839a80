"""The host's tool runner: validation, approval, rate limits, parallel calls, cancellation."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os

import pytest

from llf_host import RateLimitedError
from llf_host import ToolArgumentsInvalid
from llf_host import ToolDenied
from llf_host import ToolNotFoundError
from llf_host._tools import ApprovalAnswer

from .conftest import processes_with_comm


@pytest.fixture
def audit_log(friendly, monkeypatch):
    host, runner = friendly
    events: list[tuple[str, str | None, dict]] = []
    original = host.audit

    def record(kind, *, plugin=None, **data):
        events.append((kind, plugin, data))
        original(kind, plugin=plugin, **data)

    monkeypatch.setattr(host, "audit", record)
    monkeypatch.setattr(runner.workers, "_audit", record)
    return events


async def test_a_call_returns_the_result_and_audits_a_digest(friendly, audit_log):
    _host, runner = friendly
    result = await runner.call("add", {"a": 2, "b": 40})
    assert result.result == {"sum": 42}
    (call,) = [e for e in audit_log if e[0] == "tool.call"]
    _kind, plugin, data = call
    assert plugin == "friendly" and data["outcome"] == "ok" and data["tool"] == "add"
    canonical = json.dumps({"a": 2, "b": 40}, sort_keys=True, separators=(",", ":"))
    assert data["arguments_sha256"] == hashlib.sha256(canonical.encode()).hexdigest()
    assert "arguments" not in data


async def test_relative_imports_and_coroutine_tools_work(friendly):
    _host, runner = friendly
    assert (await runner.call("nested", {"items": [1, 2]})).result == {
        "label": "n",
        "doubled": [2, 4],
    }
    assert (await runner.call("async_tool", {"n": 5})).result == 15


@pytest.mark.parametrize(
    ("arguments", "path"),
    [
        ({"a": 1}, "/"),
        ({"a": "one", "b": 2}, "/a"),
        ({"a": 1, "b": 2, "c": 3}, "/"),
    ],
)
async def test_invalid_arguments_are_refused_before_anything_runs(
    friendly, audit_log, arguments, path
):
    _host, runner = friendly
    with pytest.raises(ToolArgumentsInvalid) as info:
        await runner.call("add", arguments)
    assert info.value.data["path"] == path
    assert info.value.data["reason"]
    assert not runner.workers.workers()  # no worker was even started
    assert [e[2]["outcome"] for e in audit_log if e[0] == "tool.call"] == ["tool_arguments_invalid"]


async def test_arguments_must_be_an_object(friendly):
    _host, runner = friendly
    with pytest.raises(ToolArgumentsInvalid):
        await runner.call("add", [1, 2])


async def test_unknown_tool(friendly):
    _host, runner = friendly
    with pytest.raises(ToolNotFoundError) as info:
        await runner.call("nope", {})
    assert "add" in info.value.hint


async def test_approval_yes_runs_the_tool(friendly, audit_log):
    _host, runner = friendly
    asked = []

    async def approve(request):
        asked.append(request)
        return ApprovalAnswer(approved=True)

    result = await runner.call("guarded", {"text": "hi"}, approver=approve)
    assert result.result == "HI"
    assert asked[0].tool == "guarded" and asked[0].arguments == {"text": "hi"}
    kinds = [e[0] for e in audit_log]
    assert kinds.index("tool.approval_requested") < kinds.index("tool.approval_answered")


async def test_approval_no_denies_without_running(friendly, audit_log):
    _host, runner = friendly

    async def refuse(request):
        return ApprovalAnswer(approved=False, reason="not today")

    with pytest.raises(ToolDenied) as info:
        await runner.call("guarded", {"text": "hi"}, approver=refuse)
    assert "not today" in info.value.message
    assert not runner.workers.workers()
    assert any(e[0] == "tool.denied" for e in audit_log)


async def test_no_approver_means_denied_with_a_hint(friendly):
    _host, runner = friendly
    with pytest.raises(ToolDenied) as info:
        await runner.call("guarded", {"text": "hi"})
    assert "tools/approve" in info.value.hint


async def test_rate_limit_refuses_fast_with_retry_after(friendly, audit_log):
    _host, runner = friendly
    # 6 per minute: a bucket of one token, refilled every 10 s.
    assert (await runner.call("limited", {})).result == "ok"
    with pytest.raises(RateLimitedError) as info:
        await runner.call("limited", {})
    assert 0 < info.value.data["retry_after"] <= 10
    assert any(e[0] == "rate_limit.denied" for e in audit_log)


async def test_independent_calls_run_in_parallel(friendly, friendly_dirs):
    _host, runner = friendly
    folder = str(friendly_dirs)
    first = runner.call("rendezvous", {"folder": folder, "me": "a", "other": "b"})
    second = runner.call("rendezvous", {"folder": folder, "me": "b", "other": "a"})
    results = await asyncio.gather(first, second)
    assert [r.result for r in results] == ["met", "met"]


async def test_cancellation_kills_the_call(friendly, friendly_dirs, marker):
    _host, runner = friendly
    task = asyncio.create_task(
        runner.call("sleeper", {"folder": str(friendly_dirs), "marker": marker})
    )
    started = friendly_dirs / "started"
    for _ in range(500):
        if started.exists():
            break
        await asyncio.sleep(0.01)
    assert started.exists()
    assert processes_with_comm(marker)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert processes_with_comm(marker) == []
    assert (await runner.call("add", {"a": 1, "b": 1})).result == {"sum": 2}


async def test_restart_workers_starts_a_fresh_worker(friendly):
    _host, runner = friendly
    await runner.call("add", {"a": 1, "b": 1})
    old = runner.workers.workers()["friendly"]
    await runner.restart_workers("friendly")
    await runner.call("add", {"a": 1, "b": 1})
    new = runner.workers.workers()["friendly"]
    assert new is not old and new.pid != old.pid
    for _ in range(200):
        if not old.alive:
            break
        await asyncio.sleep(0.01)
    assert not old.alive


async def test_closing_the_host_stops_every_worker(tmp_path):
    from llf_host._tools import get_tool_runner
    from llf_host.testing import isolated_host

    from .conftest import PLUGINS

    async with isolated_host(tmp_path / "home", plugins=[PLUGINS / "friendly"]) as host:
        runner = get_tool_runner(host)
        await runner.call("add", {"a": 1, "b": 1})
        worker = runner.workers.workers()["friendly"]
        pid = worker.pid
    assert not worker.alive
    assert not os.path.exists(f"/proc/{pid}")
    sandbox_dir = tmp_path / "home" / "cache" / "sandbox"
    assert not sandbox_dir.exists() or not any(sandbox_dir.iterdir())


async def test_list_tools_shows_permissions_and_limits(friendly, friendly_dirs):
    _host, runner = friendly
    tools = {t["name"]: t for t in runner.list_tools()}
    assert tools["guarded"]["confirm"] is True
    assert tools["rendezvous"]["concurrency"] == 2
    assert tools["limited"]["rate_per_minute"] == 6
    assert f"{friendly_dirs} (write)" in tools["add"]["permissions"]["filesystem"]
    assert tools["rendezvous"]["limits"]["timeout_s"] == 20
