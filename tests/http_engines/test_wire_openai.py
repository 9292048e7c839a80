"""OpenAI-style engines (vLLM, llama-server, mlx_lm.server, LM Studio, OpenAI, any
compatible endpoint) through the host, against a scripted loopback server that
answers with the documented wire shapes. Every case ends in a normalised result
or a typed error whose message says what to do."""

from __future__ import annotations

import json
from typing import Any

import pytest

from llf_host import AuthenticationError
from llf_host import ContextLengthError
from llf_host import ModelLoadingError
from llf_host import ModelNotFoundError
from llf_host import ProviderResponseError
from llf_host import ProviderUnavailableError
from llf_host import RateLimitedError
from llf_host import Usage

from .conftest import chat
from .wire_server import Reply
from .wire_server import free_port
from .wire_server import json_reply
from .wire_server import sse

VLLM_MODELS = {
    "object": "list",
    "data": [
        {
            "id": "Qwen/Qwen2.5-1.5B-Instruct",
            "object": "model",
            "created": 1,
            "owned_by": "vllm",
            "root": "Qwen/Qwen2.5-1.5B-Instruct",
            "parent": None,
            "max_model_len": 32768,
        }
    ],
}
LLAMA_SERVER_MODELS = {
    "object": "list",
    "data": [
        {
            "id": "/models/qwen.gguf",
            "object": "model",
            "created": 1,
            "owned_by": "llamacpp",
            "meta": {"n_ctx_train": 32768, "n_params": 494032768, "size": 397807936},
        }
    ],
}
LLAMA_PROPS = {
    "default_generation_settings": {"n_ctx": 4096},
    "total_slots": 1,
    "build_info": "b6097",
}


def delta(content: str | None = None, finish: str | None = None, **fields: Any) -> dict[str, Any]:
    d: dict[str, Any] = dict(fields)
    if content is not None:
        d["content"] = content
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "m",
        "choices": [{"index": 0, "delta": d, "finish_reason": finish}],
    }


def stream(chunks: list[bytes], **kwargs: Any) -> Reply:
    return Reply(chunks=chunks, content_type="text/event-stream", **kwargs)


async def vllm_host(scripted, engines_host, chat_reply: Any, **section: Any):
    server = await scripted(
        {"GET /v1/models": json_reply(VLLM_MODELS), "POST /v1/chat/completions": chat_reply}
    )
    host = await engines_host({"engines": {"vllm": {"hosts": [server.address], **section}}})
    return server, host


MODEL = "vllm/Qwen/Qwen2.5-1.5B-Instruct"


async def test_vllm_stream_with_separate_usage_chunk(scripted, engines_host) -> None:
    usage = {
        "id": "x",
        "object": "chat.completion.chunk",
        "choices": [],
        "usage": {"prompt_tokens": 7, "completion_tokens": 2, "total_tokens": 9},
    }
    reply = stream(
        sse(delta(role="assistant"), delta("Hel"), delta("lo"), delta(None, "stop"), usage)
    )
    server, host = await vllm_host(scripted, engines_host, reply)
    seen = []
    result = await chat(host, MODEL, temperature=0.1, max_tokens=5, on_chunk=seen.append)
    assert result.message.content == "Hello"
    assert result.finish_reason == "stop"
    assert result.usage == Usage(prompt_tokens=7, completion_tokens=2, total_tokens=9)
    assert result.timings.ttft_ms is not None
    assert [c.content for c in seen if c.content] == ["Hel", "lo"]
    body = server.hits("POST /v1/chat/completions")[0].json()
    assert body["model"] == "Qwen/Qwen2.5-1.5B-Instruct"  # prefix stripped at the first "/"
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert body["temperature"] == 0.1 and body["max_tokens"] == 5
    assert "authorization" not in server.hits("POST /v1/chat/completions")[0].headers


async def test_llama_server_usage_and_timings_on_finish_chunk_with_pings(
    scripted, engines_host
) -> None:
    finish = delta(None, "stop")
    finish["usage"] = {
        "completion_tokens": 2,
        "prompt_tokens": 5,
        "total_tokens": 7,
        "prompt_tokens_details": {"cached_tokens": 3},
    }
    finish["timings"] = {
        "cache_n": 3,
        "prompt_n": 2,
        "prompt_ms": 10.5,
        "prompt_per_second": 190.4,
        "predicted_n": 2,
        "predicted_ms": 20.0,
        "predicted_per_second": 100.0,
    }
    server = await scripted(
        {
            "GET /health": json_reply({"status": "ok"}),
            "GET /props": json_reply(LLAMA_PROPS),
            "GET /v1/models": json_reply(LLAMA_SERVER_MODELS),
            "POST /v1/chat/completions": stream(
                sse(
                    delta(role="assistant", content=None),
                    delta("Hi"),
                    delta(" there"),
                    finish,
                    comments=True,
                )
            ),
        }
    )
    host = await engines_host({"engines": {"llamacpp": {"hosts": [server.address]}}})
    result = await chat(
        host, "llamacpp/anything"
    )  # llama-server serves its model whatever the name
    assert result.message.content == "Hi there"
    assert result.usage.cached_tokens == 3 and result.usage.total_tokens == 7
    assert result.timings.tokens_per_second == 100.0 and result.timings.prompt_ms == 10.5
    body = server.hits("POST /v1/chat/completions")[0].json()
    assert "stream_options" not in body  # usage arrives anyway; not every build accepts it


async def test_mlx_reasoning_field_and_chat_completion_usage_chunk(scripted, engines_host) -> None:
    usage = {
        "object": "chat.completion",
        "choices": [],
        "usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7},
    }
    server = await scripted(
        {
            "GET /v1/models": json_reply(
                {
                    "object": "list",
                    "data": [
                        {"id": "mlx-community/Qwen3-4B-4bit", "object": "model", "created": 1}
                    ],
                }
            ),
            "POST /v1/chat/completions": stream(
                sse(
                    delta(role="assistant"),
                    delta(reasoning="think "),
                    delta(reasoning="more"),
                    delta("42"),
                    delta(None, "stop"),
                    usage,
                )
            ),
        }
    )
    host = await engines_host({"engines": {"mlx_server": {"hosts": [server.address]}}})
    result = await chat(host, "mlx_server/mlx-community/Qwen3-4B-4bit")
    assert result.message.reasoning == "think more"
    assert result.message.content == "42"
    assert result.usage.completion_tokens == 4


async def test_clean_eof_without_done_after_a_finish_is_accepted(scripted, engines_host) -> None:
    reply = stream(sse(delta("ok"), delta(None, "stop"), done=False), framing="close")
    _, host = await vllm_host(scripted, engines_host, reply)
    result = await chat(host, MODEL)
    assert result.message.content == "ok" and result.finish_reason == "stop"


async def test_stream_ending_without_finish_or_done_is_truncated(scripted, engines_host) -> None:
    reply = stream(sse(delta("partial"), done=False))
    _, host = await vllm_host(scripted, engines_host, reply)
    with pytest.raises(ProviderResponseError, match="cut off") as info:
        await chat(host, MODEL)
    assert info.value.data["reason"] == "truncated"
    assert info.value.hint


async def test_connection_dropped_mid_stream_is_truncated_and_not_retried(
    scripted, engines_host
) -> None:
    reply = stream(sse(delta("par"), delta("tial"), done=False), abort=True)
    server, host = await vllm_host(scripted, engines_host, reply)
    seen = []
    with pytest.raises(ProviderResponseError, match="mid-stream"):
        await chat(host, MODEL, on_chunk=seen.append)
    assert [c.content for c in seen] == ["par", "tial"]
    assert len(server.hits("POST /v1/chat/completions")) == 1  # no retry after the first token


async def test_incomplete_last_event_is_truncated(scripted, engines_host) -> None:
    reply = stream([*sse(delta("a"), done=False), b'data: {"choices": [{"delta": {"cont'])
    _, host = await vllm_host(scripted, engines_host, reply)
    with pytest.raises(ProviderResponseError, match="incomplete"):
        await chat(host, MODEL)


async def test_error_event_mid_stream_is_typed(scripted, engines_host) -> None:
    error = {
        "error": {
            "code": 400,
            "message": "the request exceeds the available context size",
            "type": "exceed_context_size_error",
        }
    }
    reply = stream(sse(delta("a"), error, done=False))
    _, host = await vllm_host(scripted, engines_host, reply)
    with pytest.raises(ContextLengthError) as info:
        await chat(host, MODEL)
    assert "shorten" in (info.value.hint or "")


async def test_non_json_event_is_a_bad_response(scripted, engines_host) -> None:
    reply = stream(sse("<html>proxy error</html>", done=False))
    _, host = await vllm_host(scripted, engines_host, reply)
    with pytest.raises(ProviderResponseError, match="not JSON"):
        await chat(host, MODEL)


async def test_tool_call_argument_fragments(scripted, engines_host) -> None:
    first = delta(
        role="assistant",
        content=None,
        tool_calls=[
            {
                "index": 0,
                "id": "call_9",
                "type": "function",
                "function": {"name": "weather", "arguments": ""},
            }
        ],
    )
    reply = stream(
        sse(
            first,
            delta(tool_calls=[{"index": 0, "function": {"arguments": '{"city": '}}]),
            delta(tool_calls=[{"index": 0, "function": {"arguments": '"Paris"}'}}]),
            delta(None, "tool_calls"),
        )
    )
    server, host = await vllm_host(scripted, engines_host, reply)
    from llf_host import ChatRequest
    from llf_host import Message
    from llf_host import ToolDefinition
    from llf_host._chat import stream_chat

    request = ChatRequest(
        model="",
        model_id=MODEL,
        messages=[Message(role="user", content="weather?")],
        tools=[
            ToolDefinition(
                name="weather",
                parameters={"type": "object", "properties": {"city": {"type": "string"}}},
            )
        ],
    )
    result = await stream_chat(host.registry, request)
    assert result.finish_reason == "tool_calls"
    (call,) = result.message.tool_calls or []
    assert call.id == "call_9" and call.function.name == "weather"
    assert json.loads(call.function.arguments) == {"city": "Paris"}
    sent = server.hits("POST /v1/chat/completions")[0].json()
    assert sent["tools"][0]["function"]["name"] == "weather"


async def test_503_while_loading_is_retried_before_the_first_token(scripted, engines_host) -> None:
    loading = json_reply(
        {"error": {"code": 503, "message": "Loading model", "type": "unavailable_error"}}, 503
    )
    server, host = await vllm_host(
        scripted, engines_host, [loading, stream(sse(delta("up"), delta(None, "stop")))]
    )
    result = await chat(host, MODEL)
    assert result.message.content == "up"
    assert len(server.hits("POST /v1/chat/completions")) == 2


async def test_503_loading_that_persists_is_model_loading_error(scripted, engines_host) -> None:
    loading = json_reply(
        {"error": {"code": 503, "message": "Loading model", "type": "unavailable_error"}}, 503
    )
    server = await scripted(
        {
            "GET /health": json_reply({"status": "ok"}),
            "GET /props": json_reply(LLAMA_PROPS),
            "GET /v1/models": json_reply(LLAMA_SERVER_MODELS),
            "POST /v1/chat/completions": loading,
        }
    )
    host = await engines_host({"retries": 0, "engines": {"llamacpp": {"hosts": [server.address]}}})
    with pytest.raises(
        ModelLoadingError, match=r"llama-server is loading the model \(503\)"
    ) as info:
        await chat(host, "llamacpp/m")
    assert "wait" in (info.value.hint or "")


async def test_429_honours_retry_after_then_reports_rate_limit(scripted, engines_host) -> None:
    limited = json_reply(
        {"error": {"message": "Rate limit reached", "type": "rate_limit_error"}},
        429,
        headers={"retry-after": "0"},
    )
    server, host = await vllm_host(scripted, engines_host, limited)
    with pytest.raises(RateLimitedError) as info:
        await chat(host, MODEL)
    assert info.value.data["retry_after"] == 0.0
    assert info.value.data["attempts"] == 2
    assert len(server.hits("POST /v1/chat/completions")) == 2


async def test_401_is_an_authentication_error_with_the_fix(scripted, engines_host) -> None:
    denied = json_reply(
        {"error": {"code": 401, "message": "Invalid API Key", "type": "authentication_error"}}, 401
    )
    _, host = await vllm_host(scripted, engines_host, denied)
    with pytest.raises(AuthenticationError) as info:
        await chat(host, MODEL)
    assert "llf-host keys set" in (info.value.hint or "")


async def test_plain_text_404_names_the_api_base(scripted, engines_host) -> None:
    server = await scripted(
        {"GET /v1/models": json_reply({"object": "list", "data": []})}
    )  # no chat route: "Not Found"
    host = await engines_host({"endpoints": {"box": {"api_base": server.url + "/v1"}}})
    with pytest.raises(ModelNotFoundError, match="404") as info:
        await chat(host, "box/some-model")
    assert "api_base" in (info.value.hint or "")
    assert info.value.data["server_message"] == "Not Found"


async def test_connection_refused_says_how_to_start_the_engine(engines_host) -> None:
    address = f"127.0.0.1:{free_port()}"
    host = await engines_host({"engines": {"vllm": {"hosts": [address]}}})
    with pytest.raises(ProviderUnavailableError) as info:
        await chat(host, "vllm/m")
    assert info.value.message.startswith(f"vLLM is not running at {address}")
    assert "vllm serve" in info.value.message
    assert "VLLM_HOSTS" in (info.value.hint or "")


async def test_vllm_model_not_served_fails_before_sending(scripted, engines_host) -> None:
    server, host = await vllm_host(
        scripted, engines_host, stream(sse(delta("x"), delta(None, "stop")))
    )
    with pytest.raises(ModelNotFoundError, match=r"Qwen/Qwen2\.5-1\.5B-Instruct") as info:
        await chat(host, "vllm/llama3")
    assert "--served-model-name" in (info.value.hint or "")
    assert server.hits("POST /v1/chat/completions") == []


async def test_server_rejecting_stream_options_is_asked_again_without(
    scripted, engines_host
) -> None:
    def answer(request) -> Reply:
        if "stream_options" in request.json():
            return json_reply(
                {
                    "error": {
                        "message": "Unrecognized request argument supplied: stream_options",
                        "type": "invalid_request_error",
                    }
                },
                400,
            )
        return stream(sse(delta("fine"), delta(None, "stop")))

    server = await scripted(
        {
            "GET /v1/models": json_reply({"object": "list", "data": [{"id": "m"}]}),
            "POST /v1/chat/completions": answer,
        }
    )
    host = await engines_host({"endpoints": {"proxy": {"api_base": server.url + "/v1"}}})
    assert (await chat(host, "proxy/m")).message.content == "fine"
    assert (await chat(host, "proxy/m")).message.content == "fine"
    sent = [r.json() for r in server.hits("POST /v1/chat/completions")]
    assert ["stream_options" in s for s in sent] == [True, False, False]


async def test_non_streaming_answer(scripted, engines_host) -> None:
    whole = json_reply(
        {
            "id": "x",
            "object": "chat.completion",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "whole"},
                    "finish_reason": "length",
                }
            ],
            "usage": {"prompt_tokens": 2, "completion_tokens": 1, "total_tokens": 3},
        }
    )
    server, host = await vllm_host(scripted, engines_host, whole)
    result = await chat(host, MODEL, stream=False)
    assert result.message.content == "whole" and result.finish_reason == "length"
    assert result.usage.total_tokens == 3
    assert server.hits("POST /v1/chat/completions")[0].json()["stream"] is False


async def test_lm_studio_lists_downloaded_and_loaded_models(scripted, engines_host) -> None:
    v0 = {
        "object": "list",
        "data": [
            {
                "id": "qwen2-vl-7b-instruct",
                "object": "model",
                "type": "vlm",
                "publisher": "mlx-community",
                "arch": "qwen2_vl",
                "compatibility_type": "mlx",
                "quantization": "4bit",
                "state": "not-loaded",
                "max_context_length": 32768,
            },
            {
                "id": "meta-llama-3.1-8b-instruct",
                "object": "model",
                "type": "llm",
                "publisher": "lmstudio-community",
                "arch": "llama",
                "compatibility_type": "gguf",
                "quantization": "Q4_K_M",
                "state": "loaded",
                "max_context_length": 131072,
                "loaded_context_length": 4096,
                "capabilities": ["tool_use"],
            },
        ],
    }
    server = await scripted(
        {
            "GET /api/v0/models": json_reply(v0),
            "POST /v1/chat/completions": stream(sse(delta("hey"), delta(None, "stop"))),
        }
    )
    host = await engines_host({"engines": {"lm_studio": {"hosts": [server.address]}}})
    provider = host.registry.providers["lm_studio"].obj
    models = {m.id: m for m in await provider.list_models()}
    assert models["lm_studio/qwen2-vl-7b-instruct"].loaded is False
    assert "vision" in models["lm_studio/qwen2-vl-7b-instruct"].capabilities
    loaded = models["lm_studio/meta-llama-3.1-8b-instruct"]
    assert (
        loaded.loaded is True
        and loaded.context_length == 4096
        and loaded.capabilities == ["tool_use"]
    )
    assert (
        await chat(host, "lm_studio/qwen2-vl-7b-instruct")
    ).message.content == "hey"  # JIT-loads
    with pytest.raises(ModelNotFoundError, match="lms get"):
        await chat(host, "lm_studio/not-downloaded")


async def test_openai_without_a_key_says_how_to_store_it(scripted, engines_host) -> None:
    server = await scripted(
        {"GET /v1/models": json_reply({"object": "list", "data": [{"id": "gpt-4o"}]})}
    )
    host = await engines_host({"engines": {"openai": {"api_base": server.url + "/v1"}}})
    with pytest.raises(AuthenticationError, match="OPENAI_API_KEY"):
        await chat(host, "openai/gpt-4o")
    assert server.requests == []  # nothing sent without the key
    health = await host.registry.providers["openai"].obj.health()
    assert health.state in {"down", "locked"} and "OPENAI_API_KEY" in health.message


async def test_key_goes_in_a_bearer_header_and_a_rejected_key_is_read_again(
    scripted, direct
) -> None:
    answers = [
        json_reply(
            {
                "error": {
                    "message": "Incorrect API key provided",
                    "type": "invalid_request_error",
                    "code": "invalid_api_key",
                }
            },
            401,
        ),
        stream(sse(delta("ok"), delta(None, "stop"))),
    ]
    server = await scripted(
        {
            "GET /v1/models": json_reply({"object": "list", "data": [{"id": "gpt-4o"}]}),
            "POST /v1/chat/completions": answers,
        }
    )
    keys = iter(["sk-old", "sk-new"])
    reads: list[str] = []

    def key_reader(name: str) -> str:
        reads.append(name)
        return next(keys)

    provider = direct(
        {"engines": {"openai": {"api_base": server.url + "/v1"}}}, "openai", key_reader=key_reader
    )
    from llf_host import ChatRequest
    from llf_host import Message

    request = ChatRequest(model="gpt-4o", messages=[Message(role="user", content="hi")])
    with pytest.raises(AuthenticationError, match="Incorrect API key"):
        [c async for c in provider.chat(request)]
    chunks = [c async for c in provider.chat(request)]
    assert "".join(c.content for c in chunks) == "ok"
    assert reads == ["OPENAI_API_KEY", "OPENAI_API_KEY"]
    auths = [r.headers.get("authorization") for r in server.requests]
    assert auths == ["Bearer sk-old", "Bearer sk-old", "Bearer sk-new"]
