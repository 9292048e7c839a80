"""Ollama's native API (NDJSON /api/chat, /api/tags, /api/ps, /api/pull) through the
host, against a scripted loopback server answering in Ollama's documented shapes."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler
from http.server import ThreadingHTTPServer
from typing import Any

import pytest
from click.testing import CliRunner

from llf_host import ChatRequest
from llf_host import FunctionCall
from llf_host import Message
from llf_host import ModelNotFoundError
from llf_host import ProviderResponseError
from llf_host import RateLimitedError
from llf_host import ToolCall
from llf_host import ToolDefinition
from llf_host._chat import stream_chat

from .conftest import chat
from .wire_server import Reply
from .wire_server import json_reply
from .wire_server import ndjson

TAGS = {
    "models": [
        {
            "name": "llama3.2:latest",
            "model": "llama3.2:latest",
            "modified_at": "2026-01-01T00:00:00Z",
            "size": 2019393189,
            "digest": "a80c4f17acd5",
            "details": {
                "format": "gguf",
                "family": "llama",
                "families": ["llama"],
                "parameter_size": "3.2B",
                "quantization_level": "Q4_K_M",
            },
        },
        {
            "name": "user/qwen3:8b",
            "model": "user/qwen3:8b",
            "modified_at": "2026-01-01T00:00:00Z",
            "size": 5000000000,
            "digest": "b1",
            "details": {"family": "qwen3", "parameter_size": "8B"},
        },
    ]
}
PS = {
    "models": [
        {
            "name": "llama3.2:latest",
            "model": "llama3.2:latest",
            "size": 3000000000,
            "expires_at": "2026-01-01T00:05:00Z",
            "size_vram": 0,
        }
    ]
}


def line(content: str = "", **message: Any) -> dict[str, Any]:
    return {
        "model": "llama3.2",
        "created_at": "2026-01-01T00:00:00Z",
        "message": {"role": "assistant", "content": content, **message},
        "done": False,
    }


DONE = {
    "model": "llama3.2",
    "created_at": "2026-01-01T00:00:01Z",
    "message": {"role": "assistant", "content": ""},
    "done": True,
    "done_reason": "stop",
    "total_duration": 3_000_000_000,
    "load_duration": 1_000_000_000,
    "prompt_eval_count": 10,
    "prompt_eval_duration": 500_000_000,
    "eval_count": 20,
    "eval_duration": 1_000_000_000,
}


def ndjson_reply(*lines: Any, **kwargs: Any) -> Reply:
    return Reply(chunks=ndjson(*lines), content_type="application/x-ndjson", **kwargs)


async def ollama(scripted, engines_host, chat_reply: Any = None, **routes: Any):
    server = await scripted(
        {
            "GET /": Reply(
                chunks=[b"Ollama is running"], content_type="text/plain", framing="length"
            ),
            "GET /api/tags": json_reply(TAGS),
            "GET /api/ps": json_reply(PS),
            "POST /api/chat": chat_reply or ndjson_reply(line("Hi"), DONE),
            **routes,
        }
    )
    host = await engines_host({"engines": {"ollama": {"hosts": [server.address]}}})
    return server, host


async def test_native_stream_with_thinking_tool_call_and_metrics(scripted, engines_host) -> None:
    reply = ndjson_reply(
        line(thinking="Let me "),
        line(thinking="check."),
        line(tool_calls=[{"function": {"name": "weather", "arguments": {"city": "Paris"}}}]),
        DONE,
    )
    server, host = await ollama(scripted, engines_host, reply)
    request = ChatRequest(
        model="",
        model_id="ollama/llama3.2",
        messages=[
            Message(role="user", content="weather?"),
            Message(
                role="assistant",
                tool_calls=[
                    ToolCall(
                        id="c1", function=FunctionCall(name="weather", arguments='{"city": "Rome"}')
                    )
                ],
            ),
            Message(role="tool", tool_call_id="c1", content="sunny"),
        ],
        tools=[ToolDefinition(name="weather")],
    )
    request.options.max_tokens = 64
    request.options.extra = {"num_ctx": 8192, "keep_alive": "10m"}
    result = await stream_chat(host.registry, request)
    assert result.message.reasoning == "Let me check."
    (call,) = result.message.tool_calls or []
    assert call.function.name == "weather" and json.loads(call.function.arguments) == {
        "city": "Paris"
    }
    assert result.finish_reason == "tool_calls"
    assert result.usage.prompt_tokens == 10 and result.usage.completion_tokens == 20
    assert result.timings.tokens_per_second == 20.0 and result.timings.load_ms == 1000.0
    body = server.hits("POST /api/chat")[0].json()
    assert body["model"] == "llama3.2" and body["stream"] is True
    assert body["options"] == {"num_predict": 64, "num_ctx": 8192}
    assert body["keep_alive"] == "10m"
    assert body["messages"][1]["tool_calls"][0]["function"]["arguments"] == {"city": "Rome"}
    assert body["messages"][2] == {"role": "tool", "content": "sunny", "tool_name": "weather"}


async def test_error_line_after_200_is_raised_typed(scripted, engines_host) -> None:
    reply = ndjson_reply(
        line("Hel"), {"error": "an error was encountered while running the model: unexpected EOF"}
    )
    _, host = await ollama(scripted, engines_host, reply)
    with pytest.raises(ProviderResponseError, match="in the middle of the stream") as info:
        await chat(host, "ollama/llama3.2")
    assert info.value.data["server_message"].startswith("an error was encountered")
    assert info.value.hint


async def test_stream_cut_before_done_is_truncated(scripted, engines_host) -> None:
    _, host = await ollama(scripted, engines_host, ndjson_reply(line("Hel"), line("lo")))
    with pytest.raises(ProviderResponseError, match='"done": true'):
        await chat(host, "ollama/llama3.2")


async def test_model_not_pulled_fails_before_sending_with_the_pull_command(
    scripted, engines_host
) -> None:
    server, host = await ollama(scripted, engines_host)
    with pytest.raises(ModelNotFoundError) as info:
        await chat(host, "ollama/llama3")
    assert (
        info.value.message
        == f"model `llama3` is not pulled on Ollama at {server.address} — run `ollama pull llama3`"
    )
    assert "llf-host models pull ollama/llama3" in (info.value.hint or "")
    assert server.hits("POST /api/chat") == []


async def test_implicit_latest_tag_and_namespaced_names_match(scripted, engines_host) -> None:
    server, host = await ollama(scripted, engines_host)
    assert (await chat(host, "ollama/llama3.2")).message.content == "Hi"
    assert (await chat(host, "ollama/user/qwen3:8b")).message.content == "Hi"
    sent = [r.json()["model"] for r in server.hits("POST /api/chat")]
    assert sent == ["llama3.2", "user/qwen3:8b"]


async def test_listing_shows_downloaded_and_loaded(scripted, engines_host) -> None:
    _, host = await ollama(scripted, engines_host)
    models = {m.id: m for m in await host.registry.providers["ollama"].obj.list_models()}
    assert set(models) == {"ollama/llama3.2:latest", "ollama/user/qwen3:8b"}
    assert models["ollama/llama3.2:latest"].loaded is True
    assert models["ollama/user/qwen3:8b"].loaded is False
    assert models["ollama/llama3.2:latest"].size_bytes == 2019393189
    assert models["ollama/llama3.2:latest"].details["quantization_level"] == "Q4_K_M"
    alias = await host.registry.providers["ollama_chat"].obj.list_models()
    assert {m.id for m in alias} == {"ollama_chat/llama3.2:latest", "ollama_chat/user/qwen3:8b"}


async def test_alias_prefix_ollama_chat_uses_the_native_api(scripted, engines_host) -> None:
    server, host = await ollama(scripted, engines_host)
    result = await chat(host, "ollama_chat/llama3.2")
    assert result.message.content == "Hi" and result.provider == "ollama_chat"
    assert len(server.hits("POST /api/chat")) == 1


async def test_404_after_listing_suggests_pulling(scripted, engines_host) -> None:
    missing = json_reply({"error": 'model "llama3.2" not found, try pulling it first'}, 404)
    _, host = await ollama(scripted, engines_host, missing)
    with pytest.raises(ModelNotFoundError, match="not pulled") as info:
        await chat(host, "ollama/llama3.2")
    assert "ollama pull llama3.2" in (info.value.hint or "")


async def test_server_busy_503_is_a_rate_limit_with_retry_after(scripted, engines_host) -> None:
    busy = json_reply(
        {"error": "server busy, please try again.  maximum pending requests exceeded"}, 503
    )
    server, host = await ollama(scripted, engines_host, busy)
    with pytest.raises(RateLimitedError, match="busy") as info:
        await chat(host, "ollama/llama3.2")
    assert info.value.data["retry_after"] == 1.0
    assert len(server.hits("POST /api/chat")) == 2  # retried once (retries = 1)


async def test_non_streaming_native_answer(scripted, engines_host) -> None:
    whole = json_reply({**DONE, "message": {"role": "assistant", "content": "all at once"}})
    server, host = await ollama(scripted, engines_host, whole)
    result = await chat(host, "ollama/llama3.2", stream=False)
    assert result.message.content == "all at once" and result.usage.completion_tokens == 20
    assert server.hits("POST /api/chat")[0].json()["stream"] is False


PULL_LINES = [
    {"status": "pulling manifest"},
    {"status": "pulling aaa", "digest": "sha256:aaa", "total": 1000},
    {"status": "pulling aaa", "digest": "sha256:aaa", "total": 1000, "completed": 400},
    {"status": "pulling bbb", "digest": "sha256:bbb", "total": 200, "completed": 200},
    {"status": "pulling aaa", "digest": "sha256:aaa", "total": 1000, "completed": 1000},
    {"status": "verifying sha256 digest"},
    {"status": "writing manifest"},
    {"status": "success"},
]


async def test_pull_aggregates_progress_across_layers(scripted, engines_host) -> None:
    server, host = await ollama(
        scripted, engines_host, **{"POST /api/pull": ndjson_reply(*PULL_LINES)}
    )
    provider = host.registry.providers["ollama"].obj
    seen = [p async for p in provider.pull("llama3.2")]
    assert [(p.completed, p.total) for p in seen[1:5]] == [
        (0, 1000),
        (400, 1000),
        (600, 1200),
        (1200, 1200),
    ]
    assert seen[-1].done and seen[-1].status == "success"
    assert server.hits("POST /api/pull")[0].json() == {"model": "llama3.2", "stream": True}


async def test_pull_of_unknown_model_and_truncated_pull(scripted, engines_host) -> None:
    _server, host = await ollama(
        scripted,
        engines_host,
        **{
            "POST /api/pull": [
                ndjson_reply(
                    {"status": "pulling manifest"},
                    {"error": "pull model manifest: file does not exist"},
                ),
                ndjson_reply({"status": "pulling manifest"}),
            ]
        },
    )
    provider = host.registry.providers["ollama"].obj
    with pytest.raises(ModelNotFoundError, match="no model `nope`") as info:
        [p async for p in provider.pull("nope")]
    assert "ollama.com/library" in (info.value.hint or "")
    with pytest.raises(ProviderResponseError, match="stopped sending progress"):
        [p async for p in provider.pull("nope")]


class _PullHandler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"Ollama is running" if self.path == "/" else json.dumps(TAGS).encode()
        self.send_response(200)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", "0")))
        body = b"".join(json.dumps(x).encode() + b"\n" for x in PULL_LINES)
        self.send_response(200)
        self.send_header("content-type", "application/x-ndjson")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


def test_cli_models_pull_drives_the_provider(llf_home, monkeypatch) -> None:
    from llf_host._cli import cli

    server = ThreadingHTTPServer(("127.0.0.1", 0), _PullHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        address = f"127.0.0.1:{server.server_address[1]}"
        monkeypatch.setenv("OLLAMA_HOSTS", address)
        monkeypatch.setenv("LLF_HOST_PLUGINS", "openai_compat")
        monkeypatch.setenv("LLF_HOST__PLUGINS__OPENAI_COMPAT__AUTODETECT", "false")
        result = CliRunner().invoke(
            cli, ["models", "pull", "ollama/llama3.2"], catch_exceptions=False
        )
        assert result.exit_code == 0, result.output
        assert "ollama/llama3.2: success" in result.stdout
        bad = CliRunner().invoke(cli, ["models", "pull", "vllm/x"])
        assert bad.exit_code == 1
        assert "cannot download models" in bad.stderr and "ollama/" in bad.stderr
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
