"""Token buckets on a controllable clock, concurrency slots, the bounded priority queue."""

from __future__ import annotations

import asyncio

import pytest

from llf_host import ConfigError
from llf_host import QueueFullError
from llf_host import RateLimitedError
from llf_host._routing.policy import RouteRule
from llf_host._routing.policy import RoutingPolicy
from llf_host._routing.ratelimit import EndpointLimiter
from llf_host._routing.ratelimit import LimiterSet
from llf_host._routing.ratelimit import LimitSettings
from llf_host._routing.ratelimit import TokenBucket
from llf_host._routing.ratelimit import backoff_delay
from llf_host._routing.ratelimit import parse_limits

from .conftest import ask


async def spin(times=20):
    for _ in range(times):
        await asyncio.sleep(0)


def test_bucket_starts_full_and_refills_at_its_rate(clock):
    bucket = TokenBucket(60, clock=clock)  # one per second, 60 at most
    for _ in range(60):
        assert bucket.wait_time(1) == 0
        bucket.take(1)
    assert bucket.wait_time(1) == pytest.approx(1.0)
    clock.advance(0.5)
    assert bucket.wait_time(1) == pytest.approx(0.5)
    clock.advance(0.5)
    assert bucket.wait_time(1) == 0
    clock.advance(3600)
    assert bucket.available == 60  # never more than the burst


def test_bucket_lets_an_oversized_take_through_when_full_and_then_owes(clock):
    bucket = TokenBucket(600, clock=clock)  # 10 per second
    assert bucket.wait_time(1000) == 0
    bucket.take(1000)
    assert bucket.wait_time(1) == pytest.approx(40.1)  # repays 400 of debt first
    bucket.adjust(+400)  # the request used less than estimated
    assert bucket.wait_time(1) == pytest.approx(0.1)


async def test_rpm_limit_waits_then_grants(clock):
    limiter = EndpointLimiter("e", LimitSettings(rpm=60, max_wait_s=5), clock=clock)
    for _ in range(60):
        (await limiter.acquire()).release()
    waiter = asyncio.ensure_future(limiter.acquire())
    await spin()
    assert not waiter.done() and limiter.waiting == 1
    await clock.tick(0.5)
    assert not waiter.done()
    await clock.tick(0.6)
    assert waiter.done()
    waiter.result().release()


async def test_rate_wait_beyond_max_wait_is_a_typed_error(clock):
    limiter = EndpointLimiter("ollama", LimitSettings(rpm=6, max_wait_s=1), clock=clock)
    for _ in range(6):
        (await limiter.acquire()).release()
    with pytest.raises(RateLimitedError) as info:
        await limiter.acquire()
    err = info.value
    assert err.data["retry_after"] == pytest.approx(10.0)
    assert err.data["limiter"] == "ollama"
    assert "retry after 10.0 s" in err.message and err.hint
    assert limiter.counters["rate_limited"] == 1


async def test_tpm_limit_counts_tokens_and_corrects_by_real_usage(clock):
    limiter = EndpointLimiter("e", LimitSettings(tpm=600, max_wait_s=0), clock=clock)
    permit = await limiter.acquire(500)
    with pytest.raises(RateLimitedError):
        await limiter.acquire(200)
    permit.release(actual_tokens=100)  # 400 tokens given back
    (await limiter.acquire(200)).release(200)


async def test_server_retry_after_blocks_the_endpoint(clock):
    limiter = EndpointLimiter("e", LimitSettings(max_wait_s=10), clock=clock)
    limiter.penalize(3)
    waiter = asyncio.ensure_future(limiter.acquire())
    await spin()
    assert not waiter.done()
    await clock.tick(3)
    assert waiter.done()
    waiter.result().release()
    limiter.penalize(30)
    with pytest.raises(RateLimitedError) as info:
        await limiter.acquire()
    assert info.value.data["retry_after"] == pytest.approx(30)


async def test_concurrency_slots_queue_by_priority_then_arrival(clock):
    limiter = EndpointLimiter("e", LimitSettings(max_concurrency=1), clock=clock)
    first = await limiter.acquire()
    order = []

    async def wait(name, priority):
        permit = await limiter.acquire(priority=priority)
        order.append(name)
        permit.release()

    tasks = [
        asyncio.ensure_future(wait("low-1", 5)),
        asyncio.ensure_future(wait("urgent", 0)),
        asyncio.ensure_future(wait("low-2", 5)),
        asyncio.ensure_future(wait("normal", 1)),
    ]
    await spin()
    assert limiter.waiting == 4 and limiter.active == 1 and order == []
    first.release()
    await asyncio.wait_for(asyncio.gather(*tasks), 2)
    assert order == ["urgent", "normal", "low-1", "low-2"]
    assert limiter.active == 0


async def test_queue_overflow_is_a_typed_error(clock):
    limiter = EndpointLimiter("e", LimitSettings(max_concurrency=1, max_queue=2), clock=clock)
    running = await limiter.acquire()
    queued = [asyncio.ensure_future(limiter.acquire()) for _ in range(2)]
    await spin()
    with pytest.raises(QueueFullError) as info:
        await limiter.acquire()
    assert info.value.data == {"limiter": "e", "max_queue": 2, "active": 1}
    assert "queue for 'e' is full" in info.value.message
    running.release()
    for task in queued:
        (await asyncio.wait_for(task, 2)).release()
    assert limiter.counters["queue_full"] == 1


async def test_cancelled_waiter_leaves_the_queue_and_frees_its_place(clock):
    limiter = EndpointLimiter("e", LimitSettings(max_concurrency=1, max_queue=1), clock=clock)
    running = await limiter.acquire()
    waiter = asyncio.ensure_future(limiter.acquire())
    await spin()
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert limiter.waiting == 0
    again = asyncio.ensure_future(limiter.acquire())
    await spin()
    running.release()
    (await asyncio.wait_for(again, 2)).release()
    assert limiter.active == 0


def test_backoff_grows_is_capped_and_respects_retry_after():
    half = lambda: 0.0  # noqa: E731 - the lowest jitter
    assert backoff_delay(0, jitter=half) == pytest.approx(0.25)
    assert backoff_delay(3, jitter=half) == pytest.approx(2.0)
    assert backoff_delay(20, jitter=half, cap=5) == pytest.approx(2.5)
    assert backoff_delay(0, jitter=half, retry_after=4) == 4


def test_limits_config_is_validated():
    parsed = parse_limits({"ollama": {"rpm": 10, "max_concurrency": 2}})
    assert parsed["ollama"].max_concurrency == 2
    with pytest.raises(ConfigError, match=r"routing\.limits"):
        parse_limits({"ollama": {"rpm": 0}})
    with pytest.raises(ConfigError):
        parse_limits({"ollama": {"speed": "fast"}})


def test_model_key_beats_provider_key_and_providers_may_declare_slots(clock):
    limits = LimiterSet(parse_limits({"local": {"rpm": 5}, "local/b": {"rpm": 1}}), clock=clock)
    assert limits.for_model("local/a").key == "local"
    assert limits.for_model("local/b").key == "local/b"
    assert limits.for_model("cloud/a") is None
    declared = limits.for_model("engine/x", default_concurrency=1)
    assert declared.settings.max_concurrency == 1


async def test_router_falls_back_when_the_local_queue_is_full(routed):
    config = {"routing": {"limits": {"local": {"max_concurrency": 1, "max_queue": 0}}}}
    r = await routed(config)
    r.router.set_policy(
        RoutingPolicy(
            rules=[RouteRule(name="r", prefer=["local/a"], fallback=["cloud/a"])],
            default_rule="r",
        )
    )
    r.local.gate.clear()
    r.local.script["local/a"] = ["slow"]
    first = asyncio.ensure_future(r.router.chat(ask()))
    for _ in range(100):
        if r.local.calls:
            break
        await asyncio.sleep(0.001)
    second = await r.router.chat(ask())
    assert second.route["served_by"] == "cloud/a"
    assert second.route["tried"][0]["error"] == "queue_full"
    r.local.gate.set()
    assert (await asyncio.wait_for(first, 2)).route["served_by"] == "local/a"
    snapshot = r.router.state()["limits"][0]
    assert snapshot["key"] == "local" and snapshot["queue_full"] == 1


async def test_configured_limits_are_shown_before_the_first_request(routed):
    config = {"routing": {"limits": {"local": {"rpm": 30, "max_concurrency": 2}}}}
    r = await routed(config)

    (snapshot,) = r.router.state()["limits"]

    assert snapshot["key"] == "local"
    assert snapshot["limits"] == {"rpm": 30, "max_concurrency": 2}
    assert snapshot["active"] == 0 and snapshot["granted"] == 0
    await r.router.chat(ask(model="local/a"))
    (after,) = r.router.state()["limits"]
    assert after["granted"] == 1


async def test_direct_request_over_the_rate_gets_retry_after(routed):
    config = {"routing": {"limits": {"local": {"rpm": 1, "max_wait_s": 0}}}}
    r = await routed(config)
    await r.router.chat(ask(model="local/a"))
    with pytest.raises(RateLimitedError) as info:
        await r.router.chat(ask(model="local/a"))
    assert info.value.data["retry_after"] == pytest.approx(60)
    assert r.local.calls == ["local/a"]  # our own limiter: no retry against the server
