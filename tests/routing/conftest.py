"""Fixtures for routing tests: a host with the scripted providers and a manual clock."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from llf_host import ChatRequest
from llf_host import Message
from llf_host._routing.clock import ManualClock
from llf_host._routing.service import ROUTER_SERVICE
from llf_host._routing.service import Router

PLUGINS = Path(__file__).parent / "plugins"
SCRIPTED = PLUGINS / "scripted"


def ask(text: str = "hello there", *, model: str = "", tools=None, max_tokens=None):
    from llf_host import ChatOptions

    return ChatRequest(
        model=model,
        model_id=model,
        messages=[Message(role="user", content=text)],
        tools=list(tools or []),
        options=ChatOptions(max_tokens=max_tokens),
    )


@pytest.fixture
def clock():
    return ManualClock()


@pytest.fixture
def routed(make_host, clock):
    """``r = await routed(config={...})``: ``r.host``, ``r.router``, ``r.local``, ``r.cloud``."""

    async def factory(config=None, *, plugins=(), auto_advance=True):
        clock.auto_advance = auto_advance
        host = await make_host(plugins=[SCRIPTED, *plugins], config=config or {})
        router = Router(host, clock=clock)
        host.services[ROUTER_SERVICE] = router
        local = host.registry.providers["local"].obj
        cloud = host.registry.providers["cloud"].obj
        return SimpleNamespace(host=host, router=router, local=local, cloud=cloud)

    return factory
