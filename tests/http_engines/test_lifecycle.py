"""Plugin lifecycle: a reload or shutdown never cuts a stream that is running."""

from __future__ import annotations

from llf_host import ChatRequest
from llf_host import Message
from llf_host._chat import stream_chat

from .conftest import chat
from .test_discovery_health import ENGINES
from .wire_server import Reply
from .wire_server import json_reply
from .wire_server import sse


async def test_reload_mid_stream_lets_the_stream_finish(scripted, engines_host) -> None:
    slow = Reply(
        chunks=sse(
            *({"choices": [{"delta": {"content": f"{i} "}}]} for i in range(5)),
            {"choices": [{"delta": {}, "finish_reason": "stop"}]},
        ),
        content_type="text/event-stream",
        delay=0.05,
    )
    server = await scripted({**ENGINES["vllm"], "POST /v1/chat/completions": slow})
    host = await engines_host({"engines": {"vllm": {"hosts": [server.address]}}})
    old = host.registry.providers["vllm"].obj
    seen: list[str] = []
    reloaded = []

    async def on_chunk(chunk) -> None:
        seen.append(chunk.content)
        if len(seen) == 2 and not reloaded:
            reloaded.append(await host.reload_plugin("openai_compat"))

    request = ChatRequest(
        model="", model_id="vllm/Qwen/Qwen3-8B", messages=[Message(role="user", content="hi")]
    )
    result = await stream_chat(host.registry, request, on_chunk)
    assert reloaded and reloaded[0].status == "ok"
    assert result.message.content == "0 1 2 3 4 "
    new = host.registry.providers["vllm"].obj
    assert new is not old
    assert (await chat(host, "vllm/Qwen/Qwen3-8B")).finish_reason == "stop"
    assert old.engine._endpoints[server.address].client._client is None  # old client closed after


async def test_models_list_after_shutdown_is_a_typed_error(scripted, engines_host) -> None:
    server = await scripted(
        {
            "GET /v1/models": json_reply(
                {"object": "list", "data": [{"id": "m", "owned_by": "vllm"}]}
            )
        }
    )
    host = await engines_host({"engines": {"vllm": {"hosts": [server.address]}}})
    provider = host.registry.providers["vllm"].obj
    await provider.list_models()
    await host.aclose()
    await provider.engine.catalog(refresh=True)
    result = provider.engine._catalog.results[server.address]
    assert "reloaded or unloaded" in result.message
