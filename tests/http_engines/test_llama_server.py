"""A real OpenAI-compatible server on loopback: llama-cpp-python's own server
running the embedded gemma model. Discovery, fingerprint, health, streaming and
non-streaming chat through the provider, the host, and ``llf-host serve``."""

from __future__ import annotations

import asyncio
import sys

import pytest

from llf_host import ModelNotFoundError
from llf_host.testing import home_environ

from .conftest import chat

pytestmark = pytest.mark.llama

USER = [{"role": "user", "content": "Count from 1 to 5."}]


def section(server) -> dict:
    return {"engines": {"llamacpp": {"hosts": [server.address]}}}


async def test_discovery_fingerprint_and_health(llama_server, engines_host) -> None:
    host = await engines_host(section(llama_server))
    provider = host.registry.providers["llamacpp"].obj
    health = await provider.health()
    assert health.state == "ready"
    assert health.details["engine"] == "llama_cpp_python"  # told apart from llama-server
    assert health.message == f"llama-cpp-python server is ready at {llama_server.address}"
    (model,) = await provider.list_models()
    assert (model.id, model.loaded, model.local) == ("llamacpp/gemma", True, True)
    assert model.details["owned_by"] == "me"


async def test_autodetection_finds_it_by_its_answers(llama_server, direct) -> None:
    provider = direct({}, "llamacpp", scan=(llama_server.address,))
    (endpoint,) = await provider.engine.endpoints()
    assert (endpoint.address.display, endpoint.kind) == (llama_server.address, "llama_cpp_python")
    other = direct({}, "vllm", scan=(llama_server.address,))  # same port family, other engine
    assert [e.address.display for e in await other.engine.endpoints()] == ["127.0.0.1:8000"]


async def test_streaming_chat_through_the_host(llama_server, engines_host) -> None:
    host = await engines_host(section(llama_server))
    seen = []
    result = await chat(
        host,
        "llamacpp/gemma",
        "Count from 1 to 5.",
        max_tokens=12,
        temperature=0.0,
        on_chunk=seen.append,
    )
    assert result.message.content and result.message.content.strip()
    assert result.finish_reason in {"stop", "length"}
    assert sum(1 for c in seen if c.content) > 1  # really streamed
    assert "".join(c.content for c in seen) == result.message.content
    assert result.timings.ttft_ms is not None and result.timings.ttft_ms > 0
    assert result.provider == "llamacpp"


async def test_non_streaming_chat_reports_usage(llama_server, engines_host) -> None:
    host = await engines_host(section(llama_server))
    result = await chat(
        host, "llamacpp/gemma", "Say hello.", stream=False, max_tokens=6, temperature=0.0
    )
    assert result.usage.prompt_tokens and result.usage.prompt_tokens > 0
    assert result.usage.completion_tokens is not None and result.usage.completion_tokens <= 6
    assert result.finish_reason in {"stop", "length"}


async def test_custom_endpoint_with_api_base(llama_server, engines_host) -> None:
    host = await engines_host({"endpoints": {"box": {"api_base": llama_server.url + "/v1"}}})
    result = await chat(host, "box/gemma", "Hi", max_tokens=4)
    assert result.finish_reason in {"stop", "length"}
    with pytest.raises(ModelNotFoundError, match="it serves: `gemma`"):
        await chat(host, "box/not-there", "Hi", max_tokens=4)


async def test_through_llf_host_serve(llama_server, tmp_path) -> None:
    from llf_host.client import AsyncClient

    home = tmp_path / "home"
    config = home / "config" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text(
        "[plugins.openai_compat]\nautodetect = false\n"
        f'[plugins.openai_compat.engines.llamacpp]\nhosts = ["{llama_server.address}"]\n'
    )
    env = home_environ(home, {"LLF_HOST_PLUGINS": "openai_compat"})
    client = await AsyncClient.spawn(env=env, stderr=asyncio.subprocess.DEVNULL)
    try:
        await asyncio.wait_for(client.initialize(), 30)
        listed = await asyncio.wait_for(client.request("models/list"), 30)
        assert "llamacpp/gemma" in {m["id"] for m in listed["models"]}
        stream = client.stream_chat(
            "llamacpp/gemma", USER, options={"max_tokens": 8, "temperature": 0.0}
        )
        deltas = [d async for d in stream]
        result = stream.result
        assert result is not None and result.message.content
        assert "".join(d.content for d in deltas) == result.message.content
        assert result.finish_reason in {"stop", "length"}
    finally:
        code = await client.aclose(timeout=10)
    assert code == 0, sys.stderr
