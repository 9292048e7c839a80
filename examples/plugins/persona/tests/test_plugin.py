"""persona: requests reach the wrapped model with the persona's system prompt."""

from __future__ import annotations

from pathlib import Path

import pytest

from llf_host import Message
from llf_host import ModelNotFoundError
from llf_host.testing import chat

PLUGIN = Path(__file__).resolve().parents[1]
SCRIPTED = Path(__file__).resolve().parent / "plugins" / "scripted.py"
CONFIG = {
    "plugins": {
        "persona": {
            "personas": {
                "pirate": {"model": "mock/echo", "system": "Talk like a pirate"},
                "terse": {"model": "mock/echo", "system": "One line only"},
            }
        }
    }
}


async def test_lists_one_model_per_persona(make_host):
    host = await make_host(plugins=[PLUGIN, SCRIPTED], config=CONFIG)
    assert host.plugins["persona"].status == "ok", host.plugins["persona"].error
    models = await host.registry.providers["persona"].obj.list_models()
    assert [(m.id, m.details["wraps"]) for m in models] == [
        ("persona/pirate", "mock/echo"),
        ("persona/terse", "mock/echo"),
    ]


async def test_the_system_prompt_replaces_the_callers(make_host):
    host = await make_host(plugins=[PLUGIN, SCRIPTED], config=CONFIG)
    messages = [Message(role="system", content="ignored"), Message(role="user", content="hi")]
    result = await chat(host, "persona/pirate", messages)
    assert result.message.content == "[Talk like a pirate] ok"
    (sent,) = host.registry.providers["mock"].obj.requests
    assert [m.role for m in sent.messages] == ["system", "user"]
    assert sent.model == "echo"


async def test_unknown_personas_and_bad_config_are_clear(make_host):
    host = await make_host(plugins=[PLUGIN, SCRIPTED], config=CONFIG)
    with pytest.raises(ModelNotFoundError, match="no persona 'pilot'"):
        await chat(host, "persona/pilot", "hi")
    looped = {"plugins": {"persona": {"personas": {"x": {"model": "persona/x", "system": "s"}}}}}
    host = await make_host(plugins=[PLUGIN], config=looped)
    assert host.plugins["persona"].status == "failed"
    assert "wraps another persona" in host.plugins["persona"].error.message
