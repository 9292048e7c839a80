"""Usage analytics: the summary, time windows, and `llf-host stats` over real SQLite."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from llf_host import Message
from llf_host._routing.metrics import UsageRecord
from llf_host._routing.metrics import parse_since
from llf_host._routing.metrics import percentile
from llf_host._routing.metrics import summarize
from llf_host.testing import home_environ
from llf_host.testing import isolated_host

from .conftest import SCRIPTED
from .conftest import ask

SQLITE = Path(__file__).resolve().parents[2] / "plugins" / "sqlite_memory"


def test_percentiles_interpolate():
    assert percentile([], 50) is None
    assert percentile([7.0], 99) == 7.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.5
    assert percentile(list(map(float, range(101))), 90) == 90.0


def test_since_accepts_durations_and_seconds():
    assert parse_since("90s", now=1000) == 910
    assert parse_since("2h", now=10_000) == 2800
    assert parse_since("1d", now=100_000) == 13_600
    assert parse_since(30, now=100) == 70
    assert parse_since(None) is None
    with pytest.raises(ValueError, match="90s, 30m"):
        parse_since("last tuesday")


def test_summary_groups_by_model_and_route_within_the_window():
    records = [
        UsageRecord(
            time=10,
            model="m/a",
            rule="chat",
            prompt_tokens=5,
            completion_tokens=5,
            cost=0.5,
            cost_state="priced",
            total_ms=100,
        ),
        UsageRecord(
            time=20,
            model="m/a",
            rule="chat",
            prompt_tokens=5,
            completion_tokens=7,
            cost=None,
            cost_state="unknown",
            total_ms=300,
        ),
        UsageRecord(time=30, model="m/b", rule="code", ok=False, error="down", fallbacks=1),
        UsageRecord(time=1, model="m/b", rule="old", prompt_tokens=100),
    ]
    summary = summarize(records, since=5)
    total = summary["total"]
    assert total["requests"] == 3 and total["errors"] == 1
    assert total["errors_by_kind"] == {"down": 1}
    assert total["prompt_tokens"] == 10 and total["completion_tokens"] == 12
    assert total["cost"] == 0.5 and total["unpriced_requests"] == 1
    assert summary["by_model"]["m/a"]["latency_ms"] == {"p50": 200.0, "p90": 280.0, "p99": 298.0}
    assert set(summary["by_route"]) == {"chat", "code"}


async def test_router_metrics_record_each_request(routed):
    r = await routed()
    await r.router.chat(ask(model="local/a"))
    r.local.script["local/b"] = ["down"]
    with pytest.raises(Exception, match="connection refused"):
        await r.router.chat(ask(model="local/b"))
    stats = r.router.stats()
    assert stats["by_model"]["local/a"]["requests"] == 1
    assert stats["by_model"]["local/b"]["errors_by_kind"] == {"down": 1}
    assert stats["by_model"]["local/a"]["latency_ms"]["p50"] is not None


def run_cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "llf_host._cli", "stats", *args],
        env=home_environ(home),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def test_cli_reads_usage_stored_in_the_memory_backend(tmp_path):
    from llf_host._memory import memory_service
    from llf_host._memory import record_assistant
    from llf_host._routing.service import get_router

    home = tmp_path / "home"
    config = {"prices": {"cloud/a": {"input_per_1m": 1.0, "output_per_1m": 2.0}}}
    async with isolated_host(home, plugins=[SQLITE, SCRIPTED], config=config) as host:
        backend = await memory_service(host).backend()
        router = get_router(host)
        for model in ("local/a", "local/a", "cloud/a"):
            conversation = await backend.create_conversation("stats")
            await backend.append_message(conversation.id, Message(role="user", content="hi"))
            result = await router.chat(ask(model=model))
            # record_assistant keeps result.route's rule: stats group by it.
            await record_assistant(host, conversation.id, result)

    done = run_cli(home, "--json", "--since", "1h")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["source"] == "memory"
    assert summary["total"]["requests"] == 3
    assert summary["by_model"]["local/a"]["requests"] == 2
    assert summary["by_model"]["cloud/a"]["cost"] == pytest.approx((10 + 5 * 2) / 1e6)
    assert summary["by_route"]["direct"]["requests"] == 3

    text = run_cli(home)
    assert text.returncode == 0, text.stderr
    assert "3 requests" in text.stdout and "local/a" in text.stdout

    fallback = run_cli(home, "--json", "--source", "router")
    assert json.loads(fallback.stdout)["source"] == "router"
    assert json.loads(fallback.stdout)["total"]["requests"] == 0

    bad = run_cli(home, "--since", "soon")
    assert bad.returncode != 0 and "90s, 30m" in bad.stderr
