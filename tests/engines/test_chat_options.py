"""``-o KEY=VALUE`` parsing of ``llf-host chat`` and ``bench``."""

from __future__ import annotations

import click
import pytest

from llf_host._cli._chat_cmd import parse_options


def test_standard_options_and_engine_extras():
    options = parse_options(
        [
            "temperature=0.2",
            "max_tokens=64",
            "seed=3",
            'stop=["\\n", "END"]',
            "top_k=20",
            'grammar=root ::= "x"',
        ]
    )
    assert options.temperature == 0.2
    assert options.max_tokens == 64
    assert options.seed == 3
    assert options.stop == ["\n", "END"]
    assert options.extra == {"top_k": 20, "grammar": 'root ::= "x"'}


def test_a_single_stop_string():
    assert parse_options(["stop=###"]).stop == ["###"]


@pytest.mark.parametrize("bad", ["temperature", "=3", "max_tokens=lots"])
def test_bad_options_are_usage_errors(bad):
    with pytest.raises(click.BadParameter):
        parse_options([bad])
