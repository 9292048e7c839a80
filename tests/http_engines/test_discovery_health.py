"""Fingerprinting, auto-detection, discovery caching, health states and config."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from llf_host import ChatRequest
from llf_host import ConfigError
from llf_host import Message
from llf_host import ProviderUnavailableError

from .conftest import PLUGIN_DIR
from .plugin_modules import plugin_module
from .wire_server import Reply
from .wire_server import free_port
from .wire_server import json_reply
from .wire_server import sse

Detector = plugin_module("fingerprint").Detector
EndpointSettings = plugin_module("settings").EndpointSettings
PluginSettings = plugin_module("settings").PluginSettings
engine_configs = plugin_module("settings").engine_configs
parse_address = plugin_module("settings").parse_address

NOT_FOUND_JSON = json_reply({"detail": "Not Found"}, 404)
LOADING = json_reply(
    {"error": {"code": 503, "message": "Loading model", "type": "unavailable_error"}}, 503
)

ENGINES: dict[str, dict[str, Any]] = {
    "ollama": {
        "GET /": Reply(chunks=[b"Ollama is running"], content_type="text/plain", framing="length"),
        "GET /v1/models": json_reply(
            {"object": "list", "data": [{"id": "llama3.2:latest", "owned_by": "library"}]}
        ),
        "GET /api/tags": json_reply({"models": []}),
    },
    "lm_studio": {
        # LM Studio answers unknown paths with 200 and an error object.
        "GET /": json_reply({"error": "Unexpected endpoint or method. (GET /)"}),
        "GET /health": json_reply({"error": "Unexpected endpoint or method. (GET /health)"}),
        "GET /v1/models": json_reply(
            {"object": "list", "data": [{"id": "qwen3-4b", "owned_by": "organization_owner"}]}
        ),
        "GET /api/v0/models": json_reply(
            {"object": "list", "data": [{"id": "qwen3-4b", "type": "llm", "state": "loaded"}]}
        ),
    },
    "vllm": {
        "GET /": NOT_FOUND_JSON,
        "GET /health": Reply(chunks=[], framing="length"),
        "GET /v1/models": json_reply(
            {
                "object": "list",
                "data": [{"id": "Qwen/Qwen3-8B", "owned_by": "vllm", "max_model_len": 40960}],
            }
        ),
    },
    "llama_cpp_python": {
        "GET /": NOT_FOUND_JSON,
        "GET /health": NOT_FOUND_JSON,
        "GET /v1/models": json_reply(
            {
                "object": "list",
                "data": [{"id": "gemma", "object": "model", "owned_by": "me", "permissions": []}],
            }
        ),
        "POST /v1/chat/completions": Reply(
            chunks=sse(
                {"choices": [{"delta": {"content": "a"}}]},
                {"choices": [{"delta": {"content": "b"}}]},
                {"choices": [{"delta": {}, "finish_reason": "stop"}]},
            ),
            content_type="text/event-stream",
            delay=0.05,
        ),
    },
    "llama_server": {
        "GET /": Reply(
            chunks=[b"<html>llama.cpp</html>"], content_type="text/html", framing="length"
        ),
        "GET /health": json_reply({"status": "ok"}),
        "GET /props": json_reply(
            {
                "default_generation_settings": {"n_ctx": 4096},
                "total_slots": 2,
                "build_info": "b6097",
            }
        ),
        "GET /v1/models": json_reply(
            {
                "object": "list",
                "data": [
                    {"id": "/m/qwen.gguf", "owned_by": "llamacpp", "meta": {"n_ctx_train": 32768}}
                ],
            }
        ),
    },
    "llama_server_loading": {
        "GET /health": LOADING,
        "GET /v1/models": LOADING,
        "GET /props": LOADING,
    },
    "mlx_server": {
        "GET /health": json_reply({"status": "ok"}),
        "GET /v1/models": json_reply(
            {
                "object": "list",
                "data": [{"id": "mlx-community/Qwen3-4B-4bit", "object": "model", "created": 1}],
            }
        ),
    },
    "generic": {
        "GET /v1/models": json_reply(
            {"object": "list", "data": [{"id": "gpt-x", "owned_by": "openai"}]}
        )
    },
    "unknown": {
        "GET /": Reply(chunks=[b"<html>my blog</html>"], content_type="text/html", framing="length")
    },
}
EXPECTED = {
    "ollama": ("ollama", False),
    "lm_studio": ("lm_studio", False),
    "vllm": ("vllm", False),
    "llama_cpp_python": ("llama_cpp_python", False),
    "llama_server": ("llama_server", False),
    "llama_server_loading": ("llama_server", True),
    "mlx_server": ("mlx_server", False),
    "generic": ("generic", False),
    "unknown": (None, False),
}


@pytest.mark.parametrize("engine", sorted(ENGINES))
async def test_each_engine_is_identified_by_its_answers(scripted, engine: str) -> None:
    server = await scripted(ENGINES[engine])
    detector = Detector()
    try:
        found = await detector.identify(parse_address(server.address))
    finally:
        await detector.aclose()
    assert (found.kind, found.loading) == EXPECTED[engine], found.evidence
    assert found.up


async def test_nothing_listening_is_no_answer() -> None:
    detector = Detector()
    try:
        found = await detector.identify(parse_address(f"127.0.0.1:{free_port()}"))
    finally:
        await detector.aclose()
    assert found.kind is None and not found.up


async def test_autodetection_assigns_each_server_to_its_prefix(scripted, direct) -> None:
    servers = {
        name: await scripted(ENGINES[name])
        for name in (
            "ollama",
            "mlx_server",
            "llama_server_loading",
            "llama_cpp_python",
            "vllm",
            "unknown",
        )
    }
    scan = tuple(s.address for s in servers.values())

    async def addresses(prefix: str) -> list[tuple[str, str]]:
        provider = direct({}, prefix, scan=scan)
        return [(e.address.display, e.kind) for e in await provider.engine.endpoints()]

    assert await addresses("ollama") == [(servers["ollama"].address, "ollama")]
    assert await addresses("mlx_server") == [(servers["mlx_server"].address, "mlx_server")]
    assert await addresses("vllm") == [(servers["vllm"].address, "vllm")]
    assert sorted(await addresses("llamacpp")) == sorted(
        [
            (servers["llama_server_loading"].address, "llama_server"),
            (servers["llama_cpp_python"].address, "llama_cpp_python"),
        ]
    )
    # The unidentified server is nobody's; LM Studio, not running, keeps its default address.
    assert await addresses("lm_studio") == [("127.0.0.1:1234", "lm_studio")]


async def test_health_states_with_actionable_messages(scripted, direct) -> None:
    loading = await scripted(ENGINES["llama_server_loading"])
    provider = direct({"engines": {"llamacpp": {"hosts": [loading.address]}}}, "llamacpp")
    health = await provider.health()
    assert health.state == "loading"
    assert health.message == f"llama-server is loading the model (503) at {loading.address}"

    dead = await scripted({"GET /health": json_reply({"error": "EngineDeadError"}, 503)})
    provider = direct({"engines": {"vllm": {"hosts": [dead.address]}}}, "vllm")
    health = await provider.health()
    assert health.state == "down" and "restart" in health.details["hint"]

    port = free_port()
    provider = direct({"engines": {"ollama": {"hosts": [f"127.0.0.1:{port}"]}}}, "ollama")
    health = await provider.health()
    assert health.state == "down"
    assert (
        health.message
        == f"Ollama is not running at 127.0.0.1:{port} (connection refused) — start it with `ollama serve`"
    )

    ready = await scripted(ENGINES["lm_studio"])
    provider = direct({"engines": {"lm_studio": {"hosts": [ready.address]}}}, "lm_studio")
    health = await provider.health()
    assert (health.state, health.message) == ("ready", f"LM Studio is ready at {ready.address}")


async def test_health_aggregates_endpoints_ready_wins(scripted, direct) -> None:
    loading = await scripted(ENGINES["llama_server_loading"])
    ready = await scripted(ENGINES["llama_server"])
    provider = direct(
        {"engines": {"llamacpp": {"hosts": [loading.address, ready.address]}}}, "llamacpp"
    )
    health = await provider.health()
    assert health.state == "ready"
    assert [e["state"] for e in health.details["endpoints"]] == ["loading", "ready"]


async def test_loading_plugin_contacts_nothing(scripted, engines_host) -> None:
    server = await scripted(ENGINES["vllm"])
    host = await engines_host(
        {"autodetect": True, "engines": {"vllm": {"hosts": [server.address]}}}
    )
    assert set(host.registry.providers) >= {
        "ollama",
        "ollama_chat",
        "vllm",
        "lm_studio",
        "llamacpp",
        "mlx_server",
        "openai",
    }
    assert server.requests == []
    await host.registry.providers["vllm"].obj.list_models()
    assert [r.path for r in server.requests] == ["/v1/models"]


async def test_catalog_is_cached_refreshed_on_demand_and_in_the_background(
    scripted, direct
) -> None:
    server = await scripted(ENGINES["vllm"])
    provider = direct(
        {"discovery_ttl_s": 0.05, "engines": {"vllm": {"hosts": [server.address]}}}, "vllm"
    )
    assert [m.id for m in await provider.list_models()] == ["vllm/Qwen/Qwen3-8B"]
    assert [m.context_length for m in await provider.list_models()] == [40960]
    assert len(server.hits("GET /v1/models")) == 1
    await provider.refresh()
    assert len(server.hits("GET /v1/models")) == 2
    await asyncio.sleep(0.1)  # now older than the TTL: answered from cache, refreshed behind
    await provider.list_models()
    background = provider.engine._background
    assert background is not None
    await background
    assert len(server.hits("GET /v1/models")) == 3


async def test_llama_cpp_python_is_not_polled_while_streaming(scripted, direct) -> None:
    server = await scripted(ENGINES["llama_cpp_python"])
    provider = direct({"engines": {"llamacpp": {"hosts": [server.address]}}}, "llamacpp")
    assert (await provider.health()).state == "ready"
    stream = provider.chat(
        ChatRequest(model="gemma", messages=[Message(role="user", content="hi")])
    )
    first = await anext(stream)
    assert first.content == "a"
    polls = len(server.hits("GET /v1/models"))
    during = await provider.health()
    await provider.refresh()  # re-listing or re-fingerprinting would disturb it too
    assert during.state == "ready"
    assert len(server.hits("GET /v1/models")) == polls  # the stream was not disturbed
    rest = [c async for c in stream]
    assert [c.content for c in rest] == ["b", ""]


async def test_detection_does_not_probe_a_busy_llama_cpp_python_server(scripted, direct) -> None:
    server = await scripted(ENGINES["llama_cpp_python"])
    provider = direct({}, "llamacpp", scan=(server.address,))
    (endpoint,) = await provider.engine.endpoints()
    assert endpoint.kind == "llama_cpp_python"
    stream = provider.chat(
        ChatRequest(model="gemma", messages=[Message(role="user", content="hi")])
    )
    assert (await anext(stream)).content == "a"
    before = len(server.requests)
    await provider.engine.shared.detector.scan(refresh=True)  # what any engine's refresh does
    await provider.refresh()
    assert len(server.requests) == before
    await stream.aclose()
    await provider.engine.shared.detector.scan(refresh=True)
    assert len(server.requests) > before  # probed again once the stream is over


async def test_unconfigured_engines_list_nothing_configured_ones_say_why(direct) -> None:
    port = free_port()
    quiet = direct({"autodetect": False, "engines": {}}, "mlx_server")
    quiet.engine.config = quiet.engine.config.__class__(
        **{
            **{
                f: getattr(quiet.engine.config, f) for f in quiet.engine.config.__dataclass_fields__
            },
            "addresses": (parse_address(f"127.0.0.1:{port}"),),
        }
    )
    assert await quiet.list_models() == []
    loud = direct({"engines": {"vllm": {"hosts": [f"127.0.0.1:{port}"]}}}, "vllm")
    with pytest.raises(ProviderUnavailableError, match="vLLM is not running"):
        await loud.list_models()


def test_hosts_from_config_env_lists_and_conventional_variables() -> None:
    def addresses(settings: PluginSettings, env: dict[str, str]) -> dict[str, list[str]]:
        return {c.prefix: [a.display for a in c.addresses] for c in engine_configs(settings, env)}

    env = {
        "LLAMACPP_HOSTS": "127.0.0.1:8081, gpu-box:8080",
        "OLLAMA_HOST": "0.0.0.0",
        "VLLM_HOSTS": "http://box:9000/v1",
    }
    found = addresses(PluginSettings(), env)
    assert found["llamacpp"] == ["127.0.0.1:8081", "gpu-box:8080"]
    assert found["ollama"] == ["127.0.0.1:11434"]
    assert found["vllm"] == ["box:9000"]
    assert found["lm_studio"] == ["127.0.0.1:1234"] and found["openai"] == ["api.openai.com"]
    configured = PluginSettings(engines={"llamacpp": EndpointSettings(hosts=["10.0.0.2:8080"])})
    assert addresses(configured, env)["llamacpp"] == ["10.0.0.2:8080"]  # config wins


def test_parse_address_forms() -> None:
    a = parse_address("http://box:8000/v1")
    assert (a.root, a.api_base, a.display) == ("http://box:8000", "http://box:8000/v1", "box:8000")
    b = parse_address("https://openrouter.ai/api/v1")
    assert (b.root, b.api_base) == ("https://openrouter.ai/api", "https://openrouter.ai/api/v1")
    c = parse_address("[::1]:8080")
    assert (c.api_base, c.is_loopback) == ("http://[::1]:8080/v1", True)
    d = parse_address("gpu-box", default_port=11434)
    assert (d.display, d.is_loopback) == ("gpu-box:11434", False)
    with pytest.raises(ValueError, match="not an http"):
        parse_address("ftp://x")


@pytest.mark.parametrize(
    ("section", "field"),
    [
        ({"endpoints": {"local": {"headers": {}}}}, "endpoints.local"),
        ({"endpoints": {"ollama": {"api_base": "http://x/v1"}}}, "endpoints.ollama"),
        ({"engines": {"llama": {"hosts": ["x:1"]}}}, "engines"),
        ({"endpoints": {"x": {"api_base": "http://x/v1", "engine": "tgi"}}}, "endpoints.x.engine"),
        ({"engines": {"vllm": {"hosts": ["ftp://x"]}}}, "engines.vllm"),
    ],
)
async def test_bad_config_fails_the_plugin_with_the_field_and_fix(
    make_host, section, field
) -> None:
    host = await make_host(plugins=[PLUGIN_DIR], config={"plugins": {"openai_compat": section}})
    record = host.plugins["openai_compat"]
    assert record.status == "failed"
    assert isinstance(record.error, ConfigError)
    assert field in str(record.error.data.get("field", "")) or field in record.error.message
    assert record.error.hint


async def test_custom_endpoint_becomes_a_prefix(scripted, engines_host) -> None:
    server = await scripted(ENGINES["generic"])
    host = await engines_host(
        {
            "endpoints": {
                "together": {
                    "api_base": server.url + "/v1",
                    "capabilities": ["tools"],
                    "context_length": 8192,
                }
            }
        }
    )
    (model,) = await host.registry.providers["together"].obj.list_models()
    assert (model.id, model.capabilities, model.context_length) == (
        "together/gpt-x",
        ["tools"],
        8192,
    )
