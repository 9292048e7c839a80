"""Inference overhead of the host: raw llama-cpp-python vs the provider vs `serve`.

Same model (the embedded Gemma 3 270M), same rendered prompt, same settings
(greedy, fixed seed, 64 tokens, the same thread count), measured the same way
for all three: time to the first streamed text (TTFT) and tokens per second
between the first and the last streamed token, from the caller's side.

1. raw: ``Llama.create_completion(prompt, stream=True)`` in this process;
2. provider: ``stream_chat`` through a started host with the llama_cpp plugin
   (worker thread, queue, asyncio bridge);
3. serve: ``chat/complete`` with streaming through ``llf-host serve`` (stdio
   JSON-RPC, ``$/progress`` deltas) driven by ``llf_host.client.AsyncClient``.

Rounds are interleaved (the order rotates each round) after one warm-up each.
Prints JSON with the medians and the ratios to raw. Targets: provider and serve
>= 97% of raw tokens/s; TTFT overhead <= 5 ms.

    .venv/bin/python benchmarks/inference.py [--rounds 7] [--tokens 64] [--threads N]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from llf_host import ChatOptions
from llf_host import ChatRequest
from llf_host import Message
from llf_host._chat import stream_chat
from llf_host.client import AsyncClient
from llf_host.testing import home_environ
from llf_host.testing import isolated_host

ROOT = Path(__file__).resolve().parents[1]
PLUGIN = ROOT / "plugins" / "llama_cpp"
PROMPT = "Write a short story about a lighthouse keeper who finds a message in a bottle."
RENDERED = f"<start_of_turn>user\n{PROMPT}<end_of_turn>\n<start_of_turn>model\n"
SEED = 42
SAMPLING = {"top_k": 40, "top_p": 0.95, "min_p": 0.05, "repeat_penalty": 1.1}


def rate(times: list[float], tokens: int) -> float | None:
    if tokens < 2 or len(times) < 2 or times[-1] <= times[0]:
        return None
    return (tokens - 1) / (times[-1] - times[0])


class Raw:
    def __init__(self, path: Path, threads: int, tokens: int) -> None:
        import llama_cpp

        with contextlib.redirect_stderr(io.StringIO()):
            self.llm = llama_cpp.Llama(
                str(path),
                n_ctx=4096,
                n_threads=threads,
                n_threads_batch=threads,
                verbose=False,
            )
        self.tokens = tokens

    async def run(self) -> dict[str, Any]:
        start = time.perf_counter()
        times = []
        for chunk in self.llm.create_completion(
            RENDERED, max_tokens=self.tokens, temperature=0.0, seed=SEED, stream=True, **SAMPLING
        ):
            if chunk["choices"][0]["text"]:
                times.append(time.perf_counter())
        return {"ttft_ms": (times[0] - start) * 1000, "tps": rate(times, len(times))}


class Provider:
    def __init__(self, host: Any, tokens: int) -> None:
        self.host = host
        self.request = ChatRequest(
            model="llama_cpp/default",
            model_id="llama_cpp/default",
            messages=[Message(role="user", content=PROMPT)],
            options=ChatOptions(
                temperature=0.0,
                seed=SEED,
                max_tokens=tokens,
                extra={k: v for k, v in SAMPLING.items() if k not in ("top_p",)},
                top_p=SAMPLING["top_p"],
            ),
        )

    async def run(self) -> dict[str, Any]:
        times: list[float] = []

        def on_chunk(chunk: Any) -> None:
            if chunk.content:
                times.append(time.perf_counter())

        start = time.perf_counter()
        result = await stream_chat(self.host.registry, self.request, on_chunk=on_chunk)
        tokens = result.usage.completion_tokens or 0
        return {"ttft_ms": (times[0] - start) * 1000, "tps": rate(times, tokens)}


class Serve:
    def __init__(self, client: AsyncClient, tokens: int) -> None:
        self.client = client
        self.options = {
            "temperature": 0.0,
            "seed": SEED,
            "max_tokens": tokens,
            "top_p": SAMPLING["top_p"],
            "extra": {k: v for k, v in SAMPLING.items() if k != "top_p"},
        }

    async def run(self) -> dict[str, Any]:
        times: list[float] = []
        start = time.perf_counter()
        stream = self.client.stream_chat(
            "llama_cpp/default", [{"role": "user", "content": PROMPT}], options=self.options
        )
        async for chunk in stream:
            if chunk.content:
                times.append(time.perf_counter())
        tokens = stream.result.usage.completion_tokens or 0
        return {"ttft_ms": (times[0] - start) * 1000, "tps": rate(times, tokens)}


def summary(samples: list[dict[str, Any]]) -> dict[str, float | None]:
    ttft = [s["ttft_ms"] for s in samples]
    tps = [s["tps"] for s in samples if s["tps"]]
    return {
        "ttft_ms": round(statistics.median(ttft), 2),
        "tokens_per_second": round(statistics.median(tps), 2) if tps else None,
    }


async def main(rounds: int, tokens: int, threads: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        cache = Path(tmp) / "cache"
        settings = {"n_threads": threads, "cache_dir": str(cache), "n_ctx": 4096}
        env = home_environ(
            home,
            {
                "LLF_HOST__PLUGINS__LLAMA_CPP__N_THREADS": str(threads),
                "LLF_HOST__PLUGINS__LLAMA_CPP__CACHE_DIR": str(cache),
                "LLF_HOST_PLUGINS": "llama_cpp",
            },
        )
        async with isolated_host(
            home, plugins=[PLUGIN], config={"plugins": {"llama_cpp": settings}}
        ) as host:
            # The provider assembles the embedded model into the cache; raw uses that file.
            path = await host.registry.providers["llama_cpp"].obj.prepare("default")
            raw = Raw(path, threads, tokens)
            client = await AsyncClient.spawn(env=env, stderr=subprocess.DEVNULL)
            async with client:
                await client.initialize()
                runners = {
                    "raw": raw,
                    "provider": Provider(host, tokens),
                    "serve": Serve(client, tokens),
                }
                for runner in runners.values():
                    await runner.run()  # warm-up: loads the model, fills caches
                samples: dict[str, list[dict[str, Any]]] = {name: [] for name in runners}
                names = list(runners)
                for index in range(rounds):
                    order = names[index % 3 :] + names[: index % 3]
                    for name in order:
                        samples[name].append(await runners[name].run())
    result: dict[str, Any] = {
        "benchmark": "inference",
        "model": "llama_cpp/default (gemma-3-270m-q4_k_m)",
        "tokens": tokens,
        "threads": threads,
        "rounds": rounds,
        "cpu_count": os.cpu_count(),
    }
    medians = {name: summary(s) for name, s in samples.items()}
    result.update(medians)
    raw_tps = medians["raw"]["tokens_per_second"]
    for name in ("provider", "serve"):
        tps = medians[name]["tokens_per_second"]
        result[f"{name}_tps_ratio"] = round(tps / raw_tps, 4) if tps and raw_tps else None
        result[f"{name}_ttft_overhead_ms"] = round(
            (medians[name]["ttft_ms"] or 0) - (medians["raw"]["ttft_ms"] or 0), 2
        )
    result["targets"] = {"tps_ratio_min": 0.97, "ttft_overhead_ms_max": 5.0}
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(main(args.rounds, args.tokens, args.threads)), indent=2))
