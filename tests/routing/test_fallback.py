"""Fallback on the error classes a rule names, never after the first token; cooldowns."""

from __future__ import annotations

import pytest

from llf_host import LLMError
from llf_host import ModelNotFoundError
from llf_host import NotAvailableError
from llf_host import ProviderUnavailableError
from llf_host import RateLimitedError
from llf_host._routing.fallback import ERROR_NAMES
from llf_host._routing.fallback import error_name
from llf_host._routing.policy import RouteRule
from llf_host._routing.policy import RoutingPolicy

from .conftest import ask

FALLBACK_NAMES = [
    "down",
    "loading",
    "rate_limited",
    "context_length",
    "not_found",
    "auth",
    "bad_response",
    "queue_full",
]


def two_step(fallback_on, **rule):
    return RoutingPolicy(
        rules=[
            RouteRule(
                name="r",
                task="t",
                prefer=["local/a"],
                fallback=["cloud/a"],
                fallback_on=fallback_on,
                **rule,
            )
        ],
        retries=0,
    )


@pytest.mark.parametrize("name", FALLBACK_NAMES)
async def test_falls_back_on_each_named_error_class(routed, name):
    r = await routed()
    r.router.set_policy(two_step([name]))
    r.local.script["local/a"] = [name]
    result = await r.router.chat(ask(), task="t")
    assert result.message.content == "answer from cloud/a"
    assert result.route["served_by"] == "cloud/a"
    assert result.route["rule"] == "r"
    assert [t["model"] for t in result.route["tried"]] == ["local/a"]
    assert result.route["tried"][0]["error"] == name
    assert r.local.calls == ["local/a"] and r.cloud.calls == ["cloud/a"]


@pytest.mark.parametrize("name", FALLBACK_NAMES)
async def test_errors_not_named_by_the_rule_are_raised(routed, name):
    r = await routed()
    others = [n for n in FALLBACK_NAMES if n != name]
    r.router.set_policy(two_step(others))
    r.local.script["local/a"] = [name]
    with pytest.raises(ERROR_NAMES[name]) as info:
        await r.router.chat(ask(), task="t")
    assert error_name(info.value) == name
    assert r.cloud.calls == []
    assert info.value.data["route"]["tried"][0]["model"] == "local/a"


@pytest.mark.parametrize("name", ["down", "rate_limited", "not_found"])
async def test_no_fallback_after_the_first_streamed_token(routed, name):
    r = await routed()
    r.router.set_policy(two_step(FALLBACK_NAMES))
    r.local.script["local/a"] = [f"mid_stream:{name}"]
    seen = []
    with pytest.raises(ERROR_NAMES[name]) as info:
        await r.router.chat(ask(), task="t", on_chunk=lambda c: seen.append(c.content))
    assert seen == ["partial "]
    assert r.cloud.calls == []
    assert info.value.data["route"]["served_by"] is None
    failures = r.router.stats()["total"]
    assert failures["requests"] == 1 and failures["errors"] == 1


async def test_streaming_caller_gets_only_the_serving_models_tokens(routed):
    r = await routed()
    r.router.set_policy(two_step(["down"]))
    r.local.script["local/a"] = ["down"]
    seen = []
    result = await r.router.chat(ask(), task="t", on_chunk=lambda c: seen.append(c.content))
    assert "".join(seen) == "answer from cloud/a" == result.message.content


async def test_failed_endpoint_cools_down_and_comes_back(routed, clock):
    r = await routed()
    policy = two_step(["down"])
    policy.cooldown_s = 30
    r.router.set_policy(policy)
    r.local.script["local/a"] = ["down"]
    first = await r.router.chat(ask(), task="t")
    assert first.route["served_by"] == "cloud/a"

    second = await r.router.chat(ask(), task="t")
    assert r.local.calls == ["local/a"], "a cooling endpoint must not be called"
    assert second.route["tried"][0]["error"] == "skipped"
    assert "cooling down after down" in second.route["tried"][0]["skipped"]
    assert r.router.state()["cooldowns"]["local"]["reason"] == "down"

    clock.advance(29)
    await r.router.chat(ask(), task="t")
    assert r.local.calls == ["local/a"]

    clock.advance(2)
    third = await r.router.chat(ask(), task="t")
    assert third.route["served_by"] == "local/a"
    assert r.local.calls == ["local/a", "local/a"]


async def test_down_cools_the_provider_but_loading_only_the_model(routed, clock):
    r = await routed()
    r.router.set_policy(
        RoutingPolicy(
            rules=[
                RouteRule(
                    name="r",
                    prefer=["local/a", "local/b"],
                    fallback=["cloud/a"],
                    fallback_on=["down", "loading"],
                )
            ],
            default_rule="r",
            retries=0,
        )
    )
    r.local.script["local/a"] = ["loading"]
    result = await r.router.chat(ask())
    assert result.route["served_by"] == "local/b"
    r.local.script["local/a"] = ["down"]
    clock.advance(31)
    result = await r.router.chat(ask())
    # local/a is down: the whole local provider cools, so local/b is skipped too.
    assert result.route["served_by"] == "cloud/a"
    result = await r.router.chat(ask())
    assert [t["model"] for t in result.route["tried"]] == ["local/a", "local/b"]
    assert all(t["error"] == "skipped" for t in result.route["tried"])


async def test_every_candidate_cooling_down_says_when_to_retry(routed):
    r = await routed()
    r.router.set_policy(two_step(["down"]))
    r.local.script["local/a"] = ["down"]
    r.cloud.script["cloud/a"] = ["down"]
    with pytest.raises(ProviderUnavailableError):
        await r.router.chat(ask(), task="t")
    with pytest.raises(ProviderUnavailableError) as info:
        await r.router.chat(ask(), task="t")
    assert "cooling down" in info.value.message
    assert 0 < info.value.data["retry_after"] <= 30
    assert r.local.calls == ["local/a"] and r.cloud.calls == ["cloud/a"]


async def test_rate_limited_is_retried_with_backoff_before_falling_back(routed, clock):
    r = await routed()
    policy = two_step(["rate_limited"])
    policy.retries = 2
    r.router.set_policy(policy)
    r.local.script["local/a"] = ["rate_limited", "ok"]
    result = await r.router.chat(ask(), task="t")
    assert result.route["served_by"] == "local/a"
    assert r.local.calls == ["local/a", "local/a"] and r.cloud.calls == []
    assert clock.slept and clock.slept[0] >= 0.25  # never sooner than retry_after
    assert result.route["tried"] == [
        {"model": "local/a", "error": "rate_limited", "message": "local/a: 429"}
    ]


async def test_direct_request_retries_then_raises(routed):
    r = await routed()
    r.local.script["local/a"] = ["rate_limited", "rate_limited"]
    with pytest.raises(RateLimitedError):
        await r.router.chat(ask(model="local/a"))
    assert r.local.calls == ["local/a", "local/a"]  # policy default: one retry


async def test_direct_request_to_unknown_model(routed):
    r = await routed()
    with pytest.raises(ModelNotFoundError):
        await r.router.chat(ask(model="nowhere/x"))


async def test_filters_skip_unfit_candidates(routed):
    config = {"prices": {"cloud/b": {"input_per_1m": 0.1, "output_per_1m": 0.2}}}
    r = await routed(config)
    r.local.models["a"].capabilities = ["chat"]
    r.local.models["b"].capabilities = ["chat", "tools"]
    r.local.models["c"].context_length = 8
    r.router.set_policy(
        RoutingPolicy(
            rules=[
                RouteRule(name="tools", prefer=["local/a", "local/b"], requires=["tools"]),
                RouteRule(name="cheap", prefer=["cloud/a", "cloud/b"], max_cost_per_1k=0.001),
                RouteRule(name="local", prefer=["cloud/b", "local/c", "local/a"], local_only=True),
            ]
        )
    )
    result = await r.router.chat(ask(), route="tools")
    assert result.route["served_by"] == "local/b"
    assert result.route["tried"][0]["skipped"] == "lacks tools"

    result = await r.router.chat(ask(), route="cheap")
    assert result.route["served_by"] == "cloud/b"
    assert "price unknown" in result.route["tried"][0]["skipped"]

    result = await r.router.chat(
        ask("a prompt that is longer than eight tokens, surely"), route="local"
    )
    assert result.route["served_by"] == "local/a"
    skipped = [t["skipped"] for t in result.route["tried"]]
    assert skipped[0] == "not a local model"
    assert skipped[1].startswith("context window 8 < ") and skipped[1].endswith("tokens needed")


async def test_no_fitting_candidate_is_a_clear_error(routed):
    r = await routed()
    r.router.set_policy(
        RoutingPolicy(rules=[RouteRule(name="r", prefer=["cloud/a"], local_only=True)])
    )
    with pytest.raises(NotAvailableError) as info:
        await r.router.chat(ask(), route="r")
    assert "no candidate of rule 'r' fits" in info.value.message
    assert r.cloud.calls == []


async def test_request_needing_tools_skips_models_without_them(routed):
    from llf_host import ToolDefinition

    r = await routed()
    r.local.models["a"].capabilities = ["chat"]
    r.router.set_policy(two_step(["down"]))
    result = await r.router.chat(ask(tools=[ToolDefinition(name="t")]), task="t")
    assert result.route["served_by"] == "cloud/a"


async def test_fallbacks_count_attempts_after_the_first(routed):
    r = await routed()
    r.local.script["local/a"] = ["down"]
    with pytest.raises(LLMError):
        await r.router.chat(ask(model="local/a"))
    r.router.set_policy(two_step(["down"]))
    r.local.script["local/a"] = ["down"]
    await r.router.chat(ask(), task="t")
    failed, fell_back = r.router.metrics.since(None)[-2:]
    assert (failed.ok, failed.fallbacks) == (False, 0)
    assert (fell_back.ok, fell_back.fallbacks) == (True, 1)
