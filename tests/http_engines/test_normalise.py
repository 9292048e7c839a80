"""Chunk normalisation: recorded shapes of each engine's payloads -> ChatChunk."""

from __future__ import annotations

import json

from llf_host import ChatChunk
from llf_host import Timings
from llf_host import ToolCallDelta
from llf_host import Usage
from llf_host._chat import ChatAccumulator

from .plugin_modules import plugin_module

OllamaToolIndex = plugin_module("normalise").OllamaToolIndex
ollama_line = plugin_module("normalise").ollama_line
openai_chunk = plugin_module("normalise").openai_chunk


def chunk(
    delta: dict[str, object], finish: str | None = None, **extra: object
) -> dict[str, object]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        **extra,
    }


def test_role_only_first_chunk_carries_nothing() -> None:
    assert openai_chunk(chunk({"role": "assistant", "content": None})) is None


def test_llama_server_finish_chunk_has_usage_and_timings() -> None:
    got = openai_chunk(
        chunk(
            {},
            "stop",
            usage={
                "completion_tokens": 2,
                "prompt_tokens": 5,
                "total_tokens": 7,
                "prompt_tokens_details": {"cached_tokens": 3},
            },
            timings={
                "cache_n": 3,
                "prompt_n": 2,
                "prompt_ms": 10.5,
                "prompt_per_second": 190.4,
                "predicted_n": 2,
                "predicted_ms": 20.0,
                "predicted_per_second": 100.0,
            },
        )
    )
    assert got == ChatChunk(
        finish_reason="stop",
        usage=Usage(prompt_tokens=5, completion_tokens=2, total_tokens=7, cached_tokens=3),
        timings=Timings(prompt_ms=10.5, tokens_per_second=100.0, prompt_tokens_per_second=190.4),
    )


def test_openai_separate_usage_chunk_with_empty_choices() -> None:
    got = openai_chunk(
        {
            "id": "x",
            "object": "chat.completion.chunk",
            "choices": [],
            "usage": {
                "prompt_tokens": 9,
                "completion_tokens": 4,
                "total_tokens": 13,
                "completion_tokens_details": {"reasoning_tokens": 2},
            },
        }
    )
    assert got == ChatChunk(
        usage=Usage(prompt_tokens=9, completion_tokens=4, total_tokens=13, reasoning_tokens=2)
    )


def test_mlx_usage_chunk_labelled_chat_completion_is_accepted() -> None:
    got = openai_chunk(
        {
            "object": "chat.completion",
            "choices": [],
            "usage": {"prompt_tokens": 1, "completion_tokens": 2},
        }
    )
    assert got is not None and got.usage == Usage(
        prompt_tokens=1, completion_tokens=2, total_tokens=3
    )


def test_reasoning_under_each_engine_name() -> None:
    for field in ("reasoning_content", "reasoning", "thinking"):
        got = openai_chunk(chunk({field: "hmm"}))
        assert got == ChatChunk(reasoning="hmm"), field


def test_non_string_reasoning_is_ignored() -> None:
    assert openai_chunk(chunk({"reasoning": {"effort": "low"}, "content": "a"})) == ChatChunk(
        content="a"
    )


def test_tool_call_fragments_accumulate_by_index() -> None:
    fragments = [
        chunk(
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "index": 0,
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "weather", "arguments": ""},
                    }
                ],
            }
        ),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"ci'}}]}),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": 'ty": "Paris"}'}}]}),
        chunk(
            {
                "tool_calls": [
                    {
                        "index": 1,
                        "id": "call_2",
                        "type": "function",
                        "function": {"name": "time", "arguments": "{}"},
                    }
                ]
            }
        ),
        chunk({}, "tool_calls"),
    ]
    acc = ChatAccumulator()
    for raw in fragments:
        got = openai_chunk(raw)
        if got is not None:
            acc.add(got)
    message = acc.message()
    assert message.content is None
    assert [
        (c.id, c.function.name, json.loads(c.function.arguments)) for c in message.tool_calls or []
    ] == [
        ("call_1", "weather", {"city": "Paris"}),
        ("call_2", "time", {}),
    ]
    assert acc.finish_reason == "tool_calls"


def test_non_streamed_response_message_is_read_like_a_delta() -> None:
    got = openai_chunk(
        {
            "object": "chat.completion",
            "choices": [
                {
                    "index": 0,
                    "message": {
                        "role": "assistant",
                        "content": None,
                        "tool_calls": [
                            {
                                "id": "c1",
                                "type": "function",
                                "function": {"name": "f", "arguments": "{}"},
                            }
                        ],
                    },
                    "finish_reason": "tool_calls",
                }
            ],
            "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
        }
    )
    assert got == ChatChunk(
        tool_calls=[ToolCallDelta(index=0, id="c1", name="f", arguments="{}")],
        finish_reason="tool_calls",
        usage=Usage(prompt_tokens=3, completion_tokens=1, total_tokens=4),
    )


def test_lm_studio_stats_become_timings() -> None:
    got = openai_chunk(
        {"choices": [], "stats": {"tokens_per_second": 42.5, "time_to_first_token": 0.1}}
    )
    assert got == ChatChunk(timings=Timings(tokens_per_second=42.5))


def test_ollama_native_lines() -> None:
    tools = OllamaToolIndex()
    assert ollama_line(
        {"message": {"role": "assistant", "content": "Hi"}, "done": False}, tools
    ) == ChatChunk(content="Hi")
    assert ollama_line(
        {"message": {"role": "assistant", "content": "", "thinking": "hmm"}, "done": False}, tools
    ) == ChatChunk(reasoning="hmm")
    call = ollama_line(
        {
            "message": {
                "role": "assistant",
                "content": "",
                "tool_calls": [{"function": {"name": "weather", "arguments": {"city": "Paris"}}}],
            },
            "done": False,
        },
        tools,
    )
    assert call is not None
    assert call.tool_calls == [
        ToolCallDelta(index=0, id="call_0", name="weather", arguments='{"city":"Paris"}')
    ]
    final = ollama_line(
        {
            "message": {"role": "assistant", "content": ""},
            "done": True,
            "done_reason": "stop",
            "total_duration": 5_000_000_000,
            "load_duration": 1_000_000_000,
            "prompt_eval_count": 10,
            "prompt_eval_duration": 500_000_000,
            "eval_count": 20,
            "eval_duration": 2_000_000_000,
        },
        tools,
    )
    assert final == ChatChunk(
        finish_reason="tool_calls",  # Ollama says "stop" even after tool calls
        usage=Usage(prompt_tokens=10, completion_tokens=20, total_tokens=30),
        timings=Timings(
            load_ms=1000.0, prompt_ms=500.0, tokens_per_second=10.0, prompt_tokens_per_second=20.0
        ),
    )
