"""The price table: bundled prices, overrides, local models free, unknown stays unknown."""

from __future__ import annotations

import tomllib
from importlib import resources

import pytest

from llf_host import ConfigError
from llf_host import Usage
from llf_host._routing.prices import Price
from llf_host._routing.prices import PriceTable


def test_bundled_table_is_versioned_and_parses():
    text = resources.files("llf_host._routing").joinpath("prices.toml").read_text()
    data = tomllib.loads(text)
    table = PriceTable.load()
    assert table.version == data["version"] and data["currency"] == "USD"
    assert set(table.models()) == set(data["models"])
    for model in table.models():
        assert "/" in model


def test_bundled_lookup_and_cost():
    table = PriceTable.load()
    found = table.lookup("openai/gpt-4o-mini")
    assert found.state == "priced" and found.source == f"table:{table.version}"
    cost = table.cost(
        "openai/gpt-4o-mini", Usage(prompt_tokens=1_000_000, completion_tokens=1_000_000)
    )
    assert cost.amount == pytest.approx(found.price.input_per_1m + found.price.output_per_1m)
    assert cost.state == "priced" and not cost.estimated


def test_unknown_price_is_an_explicit_state_never_zero():
    table = PriceTable.load()
    found = table.lookup("cloudy/mystery-model")
    assert found.state == "unknown" and found.price is None
    cost = table.cost("cloudy/mystery-model", Usage(prompt_tokens=10, completion_tokens=10))
    assert cost.state == "unknown" and cost.amount is None
    # Not knowing whether a model is local never makes it free.
    assert table.lookup("ollama/llama3", local=None).state == "unknown"


def test_local_models_are_free_unless_configured():
    table = PriceTable.load({"ollama/big": {"input_per_1m": 0.5, "output_per_1m": 0.5}})
    free = table.cost("ollama/small", Usage(prompt_tokens=50, completion_tokens=50), local=True)
    assert (free.state, free.amount, free.source) == ("free", 0.0, "local")
    priced = table.cost(
        "ollama/big", Usage(prompt_tokens=1_000_000, completion_tokens=0), local=True
    )
    assert (priced.state, priced.amount) == ("priced", pytest.approx(0.5))


def test_overrides_beat_the_table_and_longer_patterns_beat_shorter():
    table = PriceTable.load(
        {
            "openai/gpt-4o": {"input_per_1m": 1.0, "output_per_1m": 1.0},
            "ollama/*": {"input_per_1m": 0.01, "output_per_1m": 0.01},
            "ollama/llama3*": {"input_per_1m": 0.02, "output_per_1m": 0.02},
        }
    )
    assert table.lookup("openai/gpt-4o").source == "config:openai/gpt-4o"
    assert table.lookup("openai/gpt-4o").price.input_per_1m == 1.0
    assert table.lookup("ollama/llama3.2").source == "config:ollama/llama3*"
    assert table.lookup("ollama/qwen").source == "config:ollama/*"


def test_cached_and_reasoning_tokens_are_counted_explicitly():
    price = Price(
        input_per_1m=2.0, output_per_1m=8.0, cached_input_per_1m=0.5, reasoning_per_1m=10.0
    )
    amount = price.amount(1_000_000, 1_000_000, cached_tokens=400_000, reasoning_tokens=250_000)
    assert amount == pytest.approx(0.6 * 2.0 + 0.4 * 0.5 + 0.75 * 8.0 + 0.25 * 10.0)
    plain = Price(input_per_1m=2.0, output_per_1m=8.0)
    # Without a cached or reasoning rate, those tokens bill at the normal rates.
    assert plain.amount(100, 100, cached_tokens=50, reasoning_tokens=50) == pytest.approx(
        (100 * 2.0 + 100 * 8.0) / 1e6
    )
    assert price.max_per_1k == pytest.approx(0.01)


def test_missing_usage_marks_the_cost_estimated():
    table = PriceTable.load()
    cost = table.cost("openai/gpt-4o", Usage(prompt_tokens=10))
    assert cost.estimated and cost.amount is not None


@pytest.mark.parametrize(
    "bad",
    [
        {"x/y": 3},
        {"x/y": {"input_per_1m": -1, "output_per_1m": 1}},
        {"x/y": {"input_per_1m": 1}},
        {"x/y": {"input_per_1m": 1, "output_per_1m": 1, "per_image": 2}},
    ],
)
def test_invalid_overrides_are_config_errors_naming_the_model(bad):
    with pytest.raises(ConfigError) as info:
        PriceTable.load(bad)
    assert "'x/y'" in info.value.message and info.value.data["field"] == "prices.x/y"


async def test_every_result_carries_its_cost_state(routed):
    config = {"prices": {"cloud/b": {"input_per_1m": 1.0, "output_per_1m": 3.0}}}
    r = await routed(config)
    from .conftest import ask

    unknown = await r.router.chat(ask(model="cloud/a"))
    assert unknown.cost is None and unknown.route["cost"]["state"] == "unknown"
    priced = await r.router.chat(ask(model="cloud/b"))
    assert priced.cost == pytest.approx((10 * 1.0 + 5 * 3.0) / 1e6)
    assert priced.route["cost"]["source"] == "config:cloud/b"
    free = await r.router.chat(ask(model="local/a"))
    assert free.cost == 0.0 and free.route["cost"]["state"] == "free"
    stats = r.router.stats()
    assert stats["total"]["unpriced_requests"] == 1
    assert stats["by_model"]["cloud/b"]["cost"] == pytest.approx(priced.cost)
