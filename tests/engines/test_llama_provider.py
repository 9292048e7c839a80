"""Real generation with the embedded Gemma 3 270M model through the provider API.

Marked ``llama``: skipped without llama-cpp-python and the embedded model. Each
test keeps generation short (a few tokens, one thread).
"""

from __future__ import annotations

import asyncio

import pytest

from llf_host import ChatOptions
from llf_host import ChatRequest
from llf_host import ChatResult
from llf_host import ContextLengthError
from llf_host import Message
from llf_host import ModelNotFoundError
from llf_host import ProviderError
from llf_host._chat import stream_chat
from tests.engines.conftest import needs_llama

pytestmark = [pytest.mark.llama, needs_llama]

GREEDY = ChatOptions(temperature=0, seed=7, max_tokens=6)


def request(
    model: str = "llama_cpp/default", text: str = "Name a colour.", **options
) -> ChatRequest:
    opts = ChatOptions(**{**{"temperature": 0, "seed": 7, "max_tokens": 6}, **options})
    return ChatRequest(
        model=model, model_id=model, messages=[Message(role="user", content=text)], options=opts
    )


def provider(host):
    return host.registry.providers["llama_cpp"].obj


async def test_generates_streams_and_reports_usage_and_timings(llama_host):
    async with llama_host() as host:
        chunks = []
        result = await stream_chat(host.registry, request(), on_chunk=chunks.append)
        assert result.message.content
        assert sum(1 for c in chunks if c.content) >= 2
        assert "".join(c.content for c in chunks) == result.message.content
        assert result.finish_reason in ("length", "stop")
        assert result.usage.prompt_tokens and result.usage.prompt_tokens > 5
        assert 1 <= result.usage.completion_tokens <= 6
        assert (
            result.usage.total_tokens == result.usage.prompt_tokens + result.usage.completion_tokens
        )
        t = result.timings
        assert t.load_ms and t.load_ms > 0
        assert t.ttft_ms and t.prompt_ms and t.total_ms
        assert t.ttft_ms >= t.prompt_ms
        warm = await stream_chat(host.registry, request())
        assert warm.timings.load_ms == 0
        assert warm.message.content == result.message.content  # greedy + same seed
        info = {m.id: m for m in await provider(host).list_models()}
        model = info["llama_cpp/gemma-3-270m-q4_k_m"]
        assert model.loaded
        assert model.details["aliases"] == ["default"]
        assert model.details["n_threads"] == 1
        assert model.context_length == 1024


async def test_fallback_chat_format_renders_gemma_turn_markers(llama_host):
    async with llama_host() as host:
        messages = [
            Message(role="system", content="Be brief."),
            Message(role="user", content="Hi"),
        ]
        prompt = await provider(host).render_prompt("default", messages)
        assert prompt == (
            "<start_of_turn>user\nBe brief.\n\nHi<end_of_turn>\n<start_of_turn>model\n"
        )
        state = provider(host).pool.loaded()["gemma-3-270m-q4_k_m"].state
        assert state.chat_format.name == "gemma"
        assert "<start_of_turn>" in state.chat_format.source
        # The markers are the model's own special tokens, not text it must spell out.
        start = state.single_special_token("<start_of_turn>")
        end = state.single_special_token("<end_of_turn>")
        assert start is not None and end is not None
        tokens = state.llm.tokenize(prompt.encode(), add_bos=True, special=True)
        assert tokens.count(start) == 2 and tokens.count(end) == 1
        assert state.is_eog(end)


async def test_configured_chat_format_overrides_the_fallback(llama_host):
    async with llama_host(chat_format="chatml") as host:
        prompt = await provider(host).render_prompt("default", [Message(role="user", content="Hi")])
        assert prompt == "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"


async def test_cancelling_mid_generation_frees_the_worker(llama_host):
    async with llama_host(n_ctx=512) as host:
        first_chunk = asyncio.Event()

        def on_chunk(chunk) -> None:
            if chunk.content:
                first_chunk.set()

        long_run = asyncio.create_task(
            stream_chat(host.registry, request(max_tokens=0), on_chunk=on_chunk)
        )
        await asyncio.wait_for(first_chunk.wait(), 60)
        long_run.cancel()
        with pytest.raises(asyncio.CancelledError):
            await long_run
        short = await asyncio.wait_for(stream_chat(host.registry, request(max_tokens=3)), 60)
        assert short.usage.completion_tokens == 3
        state = provider(host).pool.loaded()["gemma-3-270m-q4_k_m"].state
        assert state.cancelled_jobs == 1
        # Unlimited, the first request would have filled the 512-token context.
        assert state.generated_tokens - 3 < 100


async def test_concurrent_requests_on_one_model_are_serialized(llama_host):
    async with llama_host() as host:
        events: list[tuple[str, str]] = []

        async def run(tag: str) -> ChatResult:
            def on_chunk(chunk) -> None:
                events.append((tag, "end" if chunk.finish_reason else "chunk"))

            return await stream_chat(host.registry, request(max_tokens=5), on_chunk=on_chunk)

        first, second = await asyncio.wait_for(asyncio.gather(run("a"), run("b")), 120)
        assert first.message.content == second.message.content
        order = [tag for tag, _ in events]
        ends = [i for i, (_, kind) in enumerate(events) if kind == "end"]
        # All of one request's chunks come before any of the other's: no interleaving.
        assert order[: ends[0] + 1] == [order[0]] * (ends[0] + 1)
        assert set(order[ends[0] + 1 :]) == {order[-1]} != {order[0]}


async def test_lru_unload_under_a_tiny_memory_budget(llama_host, gemma_path):
    models = {"a": str(gemma_path), "b": str(gemma_path)}
    async with llama_host(models=models, memory_budget_mb=1) as host:
        prov = provider(host)
        await stream_chat(host.registry, request("llama_cpp/a", max_tokens=1))
        assert list(prov.pool.loaded()) == ["a"]
        await stream_chat(host.registry, request("llama_cpp/b", max_tokens=1))
        assert list(prov.pool.loaded()) == ["b"]
        assert prov.pool.evictions == ["a"]
        loaded = {m.name: m.loaded for m in await prov.list_models()}
        assert loaded["a"] is False and loaded["b"] is True
        again = await stream_chat(host.registry, request("llama_cpp/a", max_tokens=1))
        assert again.timings.load_ms > 0
        assert prov.pool.evictions == ["a", "b"]
        assert await prov.unload("a") is True
        assert await prov.unload("a") is False
        assert prov.pool.loaded() == {}


async def test_batch_runs_every_prompt_and_isolates_failures(llama_host):
    async with llama_host(n_ctx=64) as host:
        prov = provider(host)
        too_long = "word " * 200
        results = await asyncio.wait_for(
            prov.complete_batch(
                "default",
                ["Hi", too_long, "Name a colour."],
                ChatOptions(max_tokens=3, temperature=0),
            ),
            120,
        )
        assert [type(r).__name__ for r in results] == [
            "ChatResult",
            "ContextLengthError",
            "ChatResult",
        ]
        assert isinstance(results[1], ContextLengthError)
        assert results[1].data["n_ctx"] == 64
        assert results[0].usage.completion_tokens == 3
        assert results[0].timings.load_ms > 0 and results[2].timings.load_ms == 0
        assert results[2].model == "llama_cpp/gemma-3-270m-q4_k_m"


async def test_missing_model_file_is_model_not_found_with_a_fix(llama_host, tmp_path):
    async with llama_host(models={"ghost": str(tmp_path / "ghost.gguf")}) as host:
        with pytest.raises(ModelNotFoundError) as caught:
            await stream_chat(host.registry, request("llama_cpp/ghost"))
        assert "ghost.gguf" in caught.value.message
        assert "[plugins.llama_cpp.models.ghost] path" in caught.value.hint


async def test_a_corrupt_model_file_is_a_provider_error(llama_host, tmp_path):
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"GGUF" + b"\0" * 64)
    async with llama_host(models={"broken": str(broken)}) as host:
        with pytest.raises(ProviderError) as caught:
            await stream_chat(host.registry, request("llama_cpp/broken"))
        assert caught.value.hint
        assert provider(host).pool.loaded() == {}
