"""Budgets: chains of delegation never overspend any ancestor; reserve, then settle."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from llf_host import BudgetExceededError
from llf_host._routing.budget import Budget
from llf_host._routing.budget import BudgetTracker
from llf_host._routing.budget import current_budget
from llf_host._routing.budget import use_budget

from .conftest import ask

# -- the budget object -------------------------------------------------------------


def test_reserve_then_settle_records_real_usage():
    budget = Budget(limit_tokens=100, label="agent A")
    held = budget.reserve(60)
    assert budget.available_tokens == 40
    held.settle(25, None)
    assert budget.spent_tokens == 25 and budget.reserved_tokens == 0
    assert budget.available_tokens == 75
    assert budget.unpriced_requests == 1
    held.settle(99, None)  # settling twice changes nothing
    assert budget.spent_tokens == 25


def test_refused_reservation_names_the_short_level_and_reserves_nothing():
    root = Budget(limit_tokens=100, label="root")
    child = root.child(limit_tokens=80, label="B")
    root.reserve(50)
    with pytest.raises(BudgetExceededError) as info:
        child.reserve(60)
    err = info.value
    assert err.data["budget"] == root.id and err.data["requested_by"] == child.id
    assert err.data["dimension"] == "tokens" and err.data["requested"] == 60
    assert "'root'" in err.message and "ancestor of 'B'" in err.message
    assert err.hint
    assert child.reserved_tokens == 0 and root.reserved_tokens == 50


def test_child_is_carved_from_what_the_parent_has_left():
    root = Budget(limit_tokens=100, limit_cost=1.0)
    root.reserve(70, 0.5).settle(70, 0.5)
    child = root.child(limit_tokens=500, limit_cost=10.0)
    assert child.limit_tokens == 30 and child.limit_cost == pytest.approx(0.5)
    unlimited = root.child()
    assert unlimited.limit_tokens is None and unlimited.available_tokens == 30


def test_release_gives_the_reservation_back():
    budget = Budget(limit_cost=1.0)
    held = budget.reserve(0, 0.75)
    held.release()
    assert budget.available_cost == 1.0 and budget.spent_cost == 0


def test_invalid_limits_are_refused():
    with pytest.raises(ValueError):
        Budget(limit_tokens=-1)
    with pytest.raises(ValueError):
        Budget(limit_cost=float("nan"))


def test_tracker_creates_children_by_id_and_closes_subtrees():
    tracker = BudgetTracker()
    root = tracker.create(limit_tokens=100, label="team")
    kid = tracker.create(limit_tokens=30, parent=root.id)
    assert kid.parent is root and tracker.get(kid.id) is kid
    snapshot = root.to_dict()
    assert snapshot["children"] == [kid.id] and snapshot["remaining_tokens"] == 100
    assert sorted(tracker.close(root.id)) == sorted([root.id, kid.id])
    assert len(tracker) == 0


# -- random delegation trees (hypothesis) --------------------------------------------

UNIT = 0.125  # costs in exact binary fractions, so float sums are exact


class Model:
    """An independent model of what the budgets must do."""

    def __init__(self):
        self.parent: list[int | None] = []
        self.limit_t: list[int | None] = []
        self.limit_c: list[float | None] = []
        self.spent_t: list[int] = []
        self.spent_c: list[float] = []
        self.res_t: list[int] = []
        self.res_c: list[float] = []

    def chain(self, i):
        while i is not None:
            yield i
            i = self.parent[i]

    def left_t(self, i):
        lefts = [
            self.limit_t[j] - self.spent_t[j] - self.res_t[j]
            for j in self.chain(i)
            if self.limit_t[j] is not None
        ]
        return min(lefts) if lefts else None

    def left_c(self, i):
        lefts = [
            self.limit_c[j] - self.spent_c[j] - self.res_c[j]
            for j in self.chain(i)
            if self.limit_c[j] is not None
        ]
        return min(lefts) if lefts else None

    def add(self, parent, limit_t, limit_c):
        if parent is not None:
            lt, lc = self.left_t(parent), self.left_c(parent)
            if limit_t is not None and lt is not None:
                limit_t = min(limit_t, max(lt, 0))
            if limit_c is not None and lc is not None:
                limit_c = min(limit_c, max(lc, 0.0))
        self.parent.append(parent)
        self.limit_t.append(limit_t)
        self.limit_c.append(limit_c)
        for column in (self.spent_t, self.res_t):
            column.append(0)
        for column in (self.spent_c, self.res_c):
            column.append(0.0)

    def first_short(self, i, tokens, cost):
        for j in self.chain(i):
            if (
                self.limit_t[j] is not None
                and tokens > self.limit_t[j] - self.spent_t[j] - self.res_t[j]
            ):
                return j
            if (
                self.limit_c[j] is not None
                and cost > self.limit_c[j] - self.spent_c[j] - self.res_c[j]
            ):
                return j
        return None


limits_t = st.one_of(st.none(), st.integers(0, 400))
limits_c = st.one_of(st.none(), st.integers(0, 40).map(lambda k: k * UNIT))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), root_t=limits_t, root_c=limits_c)
def test_random_delegation_trees_never_overspend_an_ancestor(data, root_t, root_c):
    model = Model()
    model.add(None, root_t, root_c)
    budgets = [Budget(limit_tokens=root_t, limit_cost=root_c, label="root")]
    held: list[tuple[int, object, int, float]] = []
    for _ in range(data.draw(st.integers(1, 40), label="steps")):
        op = data.draw(st.sampled_from(["child", "spend", "hold", "settle"]), label="op")
        if op == "child":
            parent = data.draw(st.integers(0, len(budgets) - 1), label="parent")
            lt, lc = data.draw(limits_t, label="child_t"), data.draw(limits_c, label="child_c")
            model.add(parent, lt, lc)
            budgets.append(budgets[parent].child(limit_tokens=lt, limit_cost=lc))
            assert budgets[-1].limit_tokens == model.limit_t[-1]
            assert budgets[-1].limit_cost == model.limit_c[-1]
        elif op in ("spend", "hold"):
            i = data.draw(st.integers(0, len(budgets) - 1), label="node")
            tokens = data.draw(st.integers(0, 150), label="tokens")
            cost = data.draw(st.integers(0, 12), label="cost_units") * UNIT
            short = model.first_short(i, tokens, cost)
            if short is not None:
                with pytest.raises(BudgetExceededError) as info:
                    budgets[i].reserve(tokens, cost)
                assert info.value.data["budget"] == budgets[short].id
                continue
            reservation = budgets[i].reserve(tokens, cost)
            for j in model.chain(i):
                model.res_t[j] += tokens
                model.res_c[j] += cost
            if op == "hold":
                held.append((i, reservation, tokens, cost))
                continue
            held_now = [(i, reservation, tokens, cost)]
            _settle(data, model, held_now, 0)
        elif held:
            k = data.draw(st.integers(0, len(held) - 1), label="which")
            _settle(data, model, held, k)
        for j, budget in enumerate(budgets):
            assert budget.spent_tokens == model.spent_t[j]
            assert budget.reserved_tokens == model.res_t[j]
            if model.limit_t[j] is not None:
                assert budget.spent_tokens + budget.reserved_tokens <= model.limit_t[j]
            if model.limit_c[j] is not None:
                assert budget.spent_cost + budget.reserved_cost <= model.limit_c[j]
            assert budget.available_tokens == model.left_t(j)


def _settle(data, model, held, k):
    i, reservation, tokens, cost = held.pop(k)
    actual_t = data.draw(st.integers(0, tokens), label="actual_tokens")
    actual_c = data.draw(st.integers(0, int(cost / UNIT)), label="actual_units") * UNIT
    reservation.settle(actual_t, actual_c)
    for j in model.chain(i):
        model.res_t[j] -= tokens
        model.res_c[j] -= cost
        model.spent_t[j] += actual_t
        model.spent_c[j] += actual_c


# -- through the router -------------------------------------------------------------


async def test_overspend_is_refused_before_the_provider_is_called(routed):
    r = await routed()
    budget = Budget(limit_tokens=50)
    with pytest.raises(BudgetExceededError) as info:
        await r.router.chat(ask(model="local/a", max_tokens=100), budget=budget)
    assert r.local.calls == []
    assert info.value.data["route"]["tried"][0]["error"] == "budget"
    assert budget.reserved_tokens == 0 and budget.spent_tokens == 0


async def test_settles_with_real_usage_and_reports_the_budget(routed):
    r = await routed()
    budget = Budget(limit_tokens=1000)
    result = await r.router.chat(ask(model="local/a", max_tokens=200), budget=budget)
    assert budget.spent_tokens == 15  # the provider's reported usage, not the reservation
    assert budget.reserved_tokens == 0 and budget.requests == 1
    assert result.route["budget"] == budget.id


async def test_missing_max_tokens_is_capped_to_what_the_budget_has_left(routed):
    r = await routed()
    budget = Budget(limit_tokens=40)
    result = await r.router.chat(ask("hi", model="local/a"), budget=budget)
    sent = r.local.requests[-1].options.max_tokens
    assert sent is not None and 0 < sent < 40
    assert result.route["max_tokens_capped_to"] == sent


async def test_cost_budget_refuses_a_model_with_unknown_price(routed):
    r = await routed()
    budget = Budget(limit_cost=1.0)
    with pytest.raises(BudgetExceededError) as info:
        await r.router.chat(ask(model="cloud/a", max_tokens=10), budget=budget)
    assert info.value.data["reason"] == "unknown_price"
    assert "[prices]" in info.value.hint
    assert r.cloud.calls == []


async def test_cost_budget_charges_priced_models(routed):
    prices = {"cloud/a": {"input_per_1m": 1_000_000.0, "output_per_1m": 2_000_000.0}}
    r = await routed({"prices": prices})
    budget = Budget(limit_cost=100.0)
    result = await r.router.chat(ask(model="cloud/a", max_tokens=20), budget=budget)
    assert result.cost == pytest.approx(10 * 1.0 + 5 * 2.0)
    assert budget.spent_cost == pytest.approx(20.0)
    with pytest.raises(BudgetExceededError) as info:
        await r.router.chat(ask(model="cloud/a", max_tokens=60), budget=budget)
    assert info.value.data["dimension"] == "cost"


async def test_budget_error_falls_back_when_the_rule_says_so(routed):
    from llf_host._routing.policy import RouteRule
    from llf_host._routing.policy import RoutingPolicy

    prices = {"cloud/a": {"input_per_1m": 1e6, "output_per_1m": 1e6}}
    r = await routed({"prices": prices})
    rule = RouteRule(name="r", prefer=["cloud/a", "local/a"], fallback_on=["budget"])
    r.router.set_policy(RoutingPolicy(rules=[rule], default_rule="r"))
    result = await r.router.chat(ask(max_tokens=50), budget=Budget(limit_cost=5.0))
    assert result.route["served_by"] == "local/a"
    assert result.route["tried"][0]["error"] == "budget"


async def test_concurrent_callers_cannot_both_take_the_last_tokens(routed):
    r = await routed()
    budget = Budget(limit_tokens=100)
    r.local.gate.clear()  # the first call holds its reservation while it runs
    r.local.script["local/a"] = ["slow", "slow"]
    calls = [r.router.chat(ask(model="local/a", max_tokens=60), budget=budget) for _ in range(2)]
    running = asyncio.gather(*calls, return_exceptions=True)
    for _ in range(100):
        if r.local.calls:
            break
        await asyncio.sleep(0.001)
    r.local.gate.set()
    outcomes = await asyncio.wait_for(running, 5)
    errors = [o for o in outcomes if isinstance(o, BaseException)]
    assert len(errors) == 1 and isinstance(errors[0], BudgetExceededError)
    assert len(r.local.calls) == 1 and budget.spent_tokens == 15


async def test_budget_travels_through_nested_gather_in_contextvars(routed):
    r = await routed()
    seen = {}

    async def agent_c(name):
        seen[name] = current_budget()
        await r.router.chat(ask(model="local/a", max_tokens=20))

    async def agent_b():
        mine = current_budget().child(limit_tokens=60, label="B")
        with use_budget(mine):
            await asyncio.gather(agent_c("c1"), agent_c("c2"))
        return mine

    root = Budget(limit_tokens=1000, label="A")
    with use_budget(root):
        b_budget, _ = await asyncio.gather(agent_b(), agent_c("a-direct"))
    assert current_budget() is None
    assert seen["c1"] is b_budget and seen["c2"] is b_budget and seen["a-direct"] is root
    assert b_budget.spent_tokens == 30 and b_budget.requests == 2
    assert root.spent_tokens == 45 and root.requests == 3


async def test_nested_child_cannot_spend_more_than_the_parent_has(routed):
    r = await routed()
    root = Budget(limit_tokens=40, label="A")
    with use_budget(root):
        child = root.child(limit_tokens=1000, label="B")
        assert child.limit_tokens == 40
        with use_budget(child), pytest.raises(BudgetExceededError):
            await r.router.chat(ask(model="local/a", max_tokens=60))
    assert r.local.calls == []


async def test_denial_is_audited(routed):
    seen = []
    r = await routed()
    r.host.audit_bus.configure(lambda: [("test", seen.append)])
    with pytest.raises(BudgetExceededError):
        await r.router.chat(ask(model="local/a", max_tokens=500), budget=Budget(limit_tokens=10))
    for _ in range(50):
        if any(e.kind == "budget.denied" for e in seen):
            break
        await asyncio.sleep(0.01)
    denied = [e for e in seen if e.kind == "budget.denied"]
    assert denied and denied[0].data["model"] == "local/a"


# -- named budgets from config ----------------------------------------------------


def test_config_budgets_are_created_with_their_names_as_ids():
    tracker = BudgetTracker.from_config(
        {
            "alice": {"parent": "team", "limit_tokens": 5000},
            "team": {"limit_tokens": 1000, "limit_cost": 2.5, "label": "the team"},
        }
    )
    team, alice = tracker.get("team"), tracker.get("alice")
    assert team.label == "the team" and alice.parent is team
    assert alice.limit_tokens == 1000  # carved: never more than the parent has


@pytest.mark.parametrize(
    ("section", "field"),
    [
        ({"a": {"limit_tokens": -5}}, "budgets.a"),
        ({"a": {"limit_tokens": "lots"}}, "budgets.a"),
        ({"a": {"parent": "ghost"}}, "budgets.a.parent"),
        ({"a": {"parent": "b"}, "b": {"parent": "a"}}, "budgets.a.parent"),
    ],
)
def test_invalid_config_budgets_name_the_field(section, field):
    from llf_host import ConfigError

    with pytest.raises(ConfigError) as info:
        BudgetTracker.from_config(section)
    assert info.value.data["field"] == field and info.value.hint


async def test_a_config_budget_is_usable_by_id(routed):
    r = await routed({"budgets": {"daily": {"limit_tokens": 100}}})
    await r.router.chat(ask(model="local/a", max_tokens=10), budget="daily")
    assert r.router.budgets.get("daily").spent_tokens == 15


async def test_cancelled_call_gives_back_its_reservation_and_its_slot(routed):
    r = await routed({"routing": {"limits": {"local": {"max_concurrency": 1}}}})
    budget = Budget(limit_tokens=1000)
    r.local.gate.clear()
    r.local.script["local/a"] = ["slow"]
    task = asyncio.ensure_future(r.router.chat(ask(model="local/a", max_tokens=50), budget=budget))
    for _ in range(200):
        if r.local.calls:
            break
        await asyncio.sleep(0.001)
    assert budget.reserved_tokens > 0
    assert r.router.state()["limits"][0]["active"] == 1
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert budget.reserved_tokens == 0 and budget.spent_tokens == 0
    assert r.router.state()["limits"][0]["active"] == 0
    r.local.gate.set()
    await r.router.chat(ask(model="local/a", max_tokens=50), budget=budget)
    assert budget.spent_tokens == 15
