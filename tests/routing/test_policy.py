"""Rule matching and ordering; policies from TOML, dicts and Python; validation."""

from __future__ import annotations

import pytest

from llf_host import ConfigError
from llf_host._routing.policy import RouteRule
from llf_host._routing.policy import RoutingPolicy

from .conftest import ask

POLICY_TOML = """
[routing]
default_rule = "chat"
cooldown_s = 12

[[routing.rules]]
name = "code-tools"
task = "code"
when = ["tools"]
prefer = ["local/b", "cloud/b"]

[[routing.rules]]
name = "code"
task = ["code", "refactor"]
prefer = ["local/a"]
fallback = ["cloud/a"]
fallback_on = ["down", "context_length"]

[[routing.rules]]
name = "long"
min_prompt_tokens = 1000
prefer = ["cloud/c"]

[[routing.rules]]
name = "chat"
prefer = ["local/c"]

[routing.limits.local]
max_concurrency = 1
"""


def test_policy_from_toml_keeps_rule_order_and_defaults():
    policy = RoutingPolicy.from_toml(POLICY_TOML)
    assert [r.name for r in policy.rules] == ["code-tools", "code", "long", "chat"]
    assert policy.cooldown_s == 12 and policy.default_rule == "chat"
    assert policy.rules[1].candidates() == ["local/a", "cloud/a"]
    assert policy.rules[3].fallback_on == ["down", "loading", "rate_limited", "queue_full"]


def test_first_matching_rule_wins():
    policy = RoutingPolicy.from_toml(POLICY_TOML)
    assert policy.select("code", has_tools=True).name == "code-tools"
    assert policy.select("code", has_tools=False).name == "code"
    assert policy.select("refactor", has_tools=True).name == "code"
    assert policy.select("summarize", prompt_tokens=5000).name == "long"
    assert policy.select("summarize", prompt_tokens=10).name == "chat"
    assert policy.select(None).name == "chat"  # the default rule


def test_order_decides_between_overlapping_rules():
    a = RouteRule(name="a", task="*", prefer=["x/1"])
    b = RouteRule(name="b", task="code", prefer=["x/2"])
    assert RoutingPolicy(rules=[a, b]).select("code").name == "a"
    assert RoutingPolicy(rules=[b, a]).select("code").name == "b"


def test_when_conditions():
    rule = RouteRule(name="s", prefer=["x/1"], when=["streaming", "no_tools"])
    assert rule.matches("any", streaming=True)
    assert not rule.matches("any", streaming=False)
    assert not rule.matches("any", streaming=True, has_tools=True)


def test_round_trip_through_plain_data():
    policy = RoutingPolicy.from_toml(POLICY_TOML)
    again = RoutingPolicy.from_dict(policy.to_dict())
    assert again == policy


def test_hybrid_is_local_first_with_cloud_fallback():
    policy = RoutingPolicy.hybrid(local=["local/a"], cloud=["cloud/a"])
    rule = policy.select(None)
    assert rule.candidates() == ["local/a", "cloud/a"]
    assert {"down", "loading", "context_length"} <= set(rule.fallback_on)


@pytest.mark.parametrize(
    ("rules", "message"),
    [
        ([{"name": "a", "prefer": ["x/1"]}, {"name": "a", "prefer": ["x/2"]}], "used twice"),
        ([{"name": "a", "prefer": []}], "at least one model"),
        ([{"name": "a", "prefer": ["nomodel"]}], "not a model id"),
        ([{"name": "a", "prefer": ["x/1"], "fallback_on": ["exploded"]}], "unknown error name"),
        ([{"name": "a", "prefer": ["x/1"], "when": ["raining"]}], "unknown condition"),
        ([{"name": "a", "prefer": ["x/1"], "colour": "red"}], "colour"),
    ],
)
def test_invalid_policies_say_what_is_wrong(rules, message):
    with pytest.raises(ConfigError) as info:
        RoutingPolicy.from_dict({"rules": rules})
    assert message in info.value.message
    assert info.value.hint


def test_default_rule_must_exist():
    with pytest.raises(ConfigError, match="default_rule 'nope'"):
        RoutingPolicy.from_dict({"default_rule": "nope", "rules": []})


async def test_router_reads_the_policy_from_config(routed):
    import tomllib

    config = tomllib.loads(POLICY_TOML)
    r = await routed(config)
    result = await r.router.chat(ask())
    assert result.route["rule"] == "chat" and result.route["served_by"] == "local/c"
    result = await r.router.chat(ask(), task="refactor")
    assert result.route == {
        "rule": "code",
        "reason": "rule 'code'",
        "tried": [],
        "served_by": "local/a",
        "cost": {
            "state": "free",
            "amount": 0.0,
            "currency": "USD",
            "source": "local",
            "estimated": False,
        },
    }


async def test_invalid_config_policy_is_reported(routed):
    with pytest.raises(ConfigError, match=r"config \[routing\]"):
        await routed({"routing": {"rules": [{"name": "x"}]}})


async def test_explicit_policy_argument_wins(routed):
    r = await routed()
    policy = RoutingPolicy(rules=[RouteRule(name="mine", prefer=["cloud/b"])])
    result = await r.router.chat(ask(), task="anything", policy=policy)
    assert result.route["served_by"] == "cloud/b"


async def test_a_task_no_rule_serves_goes_to_the_named_model(routed):
    r = await routed()
    result = await r.router.chat(ask(model="local/b"), task="unheard-of")
    assert result.route["rule"] == "direct" and result.route["served_by"] == "local/b"


async def test_switching_model_mid_conversation_keeps_history(routed):
    from llf_host import Message

    r = await routed()
    first = await r.router.chat(ask("first question", model="local/a"))
    history = [
        Message(role="user", content="first question"),
        first.message,
        Message(role="user", content="second question"),
    ]
    req = ask(model="cloud/a")
    req.messages = history
    await r.router.chat(req)
    sent = r.cloud.requests[-1].messages
    assert [m.content for m in sent] == ["first question", "answer from local/a", "second question"]
