"""A plugin supplies the routing policy through the llf_route hook."""

from __future__ import annotations

import pytest

from llf_host._routing.policy import RouteRule
from llf_host._routing.policy import RoutingPolicy

from .conftest import PLUGINS
from .conftest import ask

HOOK = PLUGINS / "route_by_plugin"


@pytest.mark.parametrize(
    ("task", "rule", "served_by"),
    [
        ("list", "plugin:route_by_plugin", "cloud/c"),
        ("rule", "plugin-rule", "local/b"),
        ("policy", "plugin-policy", "cloud/b"),
        ("dict", "plugin-dict", "local/a"),
    ],
)
async def test_plugin_policy_is_used_in_each_shape(routed, task, rule, served_by):
    r = await routed(plugins=[HOOK])
    result = await r.router.chat(ask(), task=task)
    assert (result.route["rule"], result.route["served_by"]) == (rule, served_by)


async def test_plugin_sees_the_configured_policy_and_may_decline(routed):
    r = await routed(plugins=[HOOK])
    r.router.set_policy(RoutingPolicy(rules=[RouteRule(name="cfg", task="*", prefer=["local/c"])]))
    seen = await r.router.chat(ask(), task="sees-policy")
    assert seen.route["served_by"] == "local/c" and seen.route["rule"].startswith("plugin:")
    declined = await r.router.chat(ask(), task="other")
    assert declined.route["rule"] == "cfg"


@pytest.mark.parametrize("task", ["broken", "nonsense"])
async def test_a_failing_routing_plugin_is_ignored_and_reported(routed, task):
    r = await routed(plugins=[HOOK])
    r.router.set_policy(RoutingPolicy(rules=[RouteRule(name="cfg", prefer=["local/a"])]))
    result = await r.router.chat(ask(), task=task)
    assert result.route["rule"] == "cfg"
    warnings = r.host.plugins["route_by_plugin"].warnings
    assert any("llf_route ignored" in w for w in warnings)


async def test_explicit_policy_skips_the_hook(routed):
    r = await routed(plugins=[HOOK])
    policy = RoutingPolicy(rules=[RouteRule(name="mine", prefer=["local/b"])])
    result = await r.router.chat(ask(), task="list", policy=policy)
    assert result.route["rule"] == "mine"


async def test_direct_requests_do_not_ask_the_hook(routed):
    r = await routed(plugins=[HOOK])
    result = await r.router.chat(ask(model="local/a"))
    assert result.route["rule"] == "direct"
