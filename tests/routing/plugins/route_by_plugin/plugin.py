"""An ``llf_route`` implementation that answers in every supported shape, by task."""

from __future__ import annotations

from llf_host import hookimpl
from llf_host._routing.policy import RouteRule
from llf_host._routing.policy import RoutingPolicy


@hookimpl
def llf_route(request, task, policy):
    if task == "list":
        return ["cloud/c", "local/c"]
    if task == "rule":
        return RouteRule(name="plugin-rule", task="never", prefer=["local/b"])
    if task == "policy":
        return RoutingPolicy(
            rules=[RouteRule(name="plugin-policy", task="policy", prefer=["cloud/b"])]
        )
    if task == "dict":
        return {"rules": [{"name": "plugin-dict", "prefer": ["local/a"]}]}
    if task == "broken":
        raise RuntimeError("routing plugin bug")
    if task == "nonsense":
        return 42
    if task == "sees-policy":
        return [policy.rules[0].prefer[0]] if policy.rules else None
    return None
