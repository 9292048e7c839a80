"""Overhead of a chat request through the HTTP engines provider vs a direct httpx call.

A tiny loopback server (this script in ``--serve`` mode, in its own process)
streams a fixed OpenAI-style SSE answer instantly, so the engine's own time does
not drown the overhead. In the same run, interleaved request by request, the
script measures:

- ``direct``: httpx streaming POST, ``aiter_lines``, ``json.loads`` per event
  until ``[DONE]`` (what a minimal hand-written client does);
- ``provider``: ``Provider.chat()`` of the ``openai_compat`` plugin loaded in a
  host (model check, body building, SSE parsing, normalised chunks);
- ``host``: the host's ``stream_chat`` over that provider (adds registry
  resolution, the accumulator and client-side timings).

Prints JSON with p50/p99 per path and the added milliseconds (target: ≤ 1 ms
added at p50 for ``provider``).

    .venv/bin/python benchmarks/gateway.py [--requests 400] [--chunks 32]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
PLUGIN = ROOT / "plugins" / "openai_compat"


def sse_answer(chunks: int) -> bytes:
    events = [{"choices": [{"index": 0, "delta": {"role": "assistant", "content": None}}]}]
    events += [
        {"choices": [{"index": 0, "delta": {"content": f" word{i}"}}]} for i in range(chunks)
    ]
    events.append({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    events.append(
        {
            "choices": [],
            "usage": {"prompt_tokens": 5, "completion_tokens": chunks, "total_tokens": chunks + 5},
        }
    )
    body = b"".join(
        b"data: "
        + json.dumps({"id": "x", "object": "chat.completion.chunk", **e}).encode()
        + b"\n\n"
        for e in events
    )
    return body + b"data: [DONE]\n\n"


async def serve(port_file: Path, chunks: int) -> None:
    answer = sse_answer(chunks)
    stream_head = (
        b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
    )
    models = json.dumps({"object": "list", "data": [{"id": "bench", "owned_by": "vllm"}]}).encode()
    models_reply = (
        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n%s"
        % (len(models), models)
    )
    # Several network chunks per answer, like a real engine flushing per token.
    pieces = [answer[i : i + 512] for i in range(0, len(answer), 512)]
    framed = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces) + b"0\r\n\r\n"

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                if length:
                    await reader.readexactly(length)
                if head.startswith(b"GET"):
                    writer.write(models_reply)
                else:
                    writer.write(stream_head + framed)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port_file.write_text(str(server.sockets[0].getsockname()[1]))
    async with server:
        await server.serve_forever()


def start_server(chunks: int) -> tuple[subprocess.Popen[bytes], int]:
    port_file = Path(tempfile.mkdtemp()) / "port"
    process = subprocess.Popen(
        [sys.executable, __file__, "--serve", str(port_file), "--chunks", str(chunks)]
    )
    deadline = time.monotonic() + 20
    while not port_file.exists() or not port_file.read_text():
        if time.monotonic() > deadline or process.poll() is not None:
            process.kill()
            raise RuntimeError("benchmark server did not start")
        time.sleep(0.02)
    return process, int(port_file.read_text())


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def measure(port: int, requests: int, warmup: int) -> dict[str, list[float]]:
    from llf_host import ChatRequest
    from llf_host import Message
    from llf_host._chat import stream_chat
    from llf_host.testing import isolated_host

    messages = [Message(role="user", content="hi")]
    payload = {
        "model": "bench",
        "messages": [{"role": "user", "content": "hi"}],
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    url = f"http://127.0.0.1:{port}/v1/chat/completions"
    config = {
        "plugins": {
            "openai_compat": {
                "autodetect": False,
                "engines": {"vllm": {"hosts": [f"127.0.0.1:{port}"]}},
            }
        }
    }
    with tempfile.TemporaryDirectory() as home:
        async with (
            isolated_host(Path(home), plugins=[PLUGIN], config=config) as host,
            httpx.AsyncClient(timeout=30, trust_env=False) as direct_client,
        ):
            provider = host.registry.providers["vllm"].obj

            async def direct() -> int:
                n = 0
                async with direct_client.stream("POST", url, json=payload) as response:
                    async for line in response.aiter_lines():
                        if line.startswith("data: "):
                            data = line[6:]
                            if data == "[DONE]":
                                break
                            json.loads(data)
                            n += 1
                return n

            async def via_provider() -> int:
                n = 0
                async for _chunk in provider.chat(ChatRequest(model="bench", messages=messages)):
                    n += 1
                return n

            async def via_host() -> int:
                result = await stream_chat(
                    host.registry, ChatRequest(model="", model_id="vllm/bench", messages=messages)
                )
                return len(result.message.content or "")

            paths = {"direct": direct, "provider": via_provider, "host": via_host}
            samples: dict[str, list[float]] = {name: [] for name in paths}
            order = list(paths)
            for i in range(warmup + requests):
                order = order[1:] + order[:1]  # rotate: no path always runs first
                for name in order:
                    start = time.perf_counter()
                    await paths[name]()
                    elapsed = (time.perf_counter() - start) * 1000
                    if i >= warmup:
                        samples[name].append(elapsed)
            return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--warmup", type=int, default=40)
    parser.add_argument("--chunks", type=int, default=32, help="content chunks per answer")
    parser.add_argument("--serve", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(serve(args.serve, args.chunks))
        return
    process, port = start_server(args.chunks)
    try:
        samples = asyncio.run(measure(port, args.requests, args.warmup))
    finally:
        process.terminate()
        process.wait(10)
    base50, base99 = pct(samples["direct"], 0.5), pct(samples["direct"], 0.99)
    report: dict[str, object] = {
        "benchmark": "gateway",
        "requests_per_path": args.requests,
        "chunks_per_answer": args.chunks,
        "target": "provider adds <= 1 ms at p50",
    }
    for name, values in samples.items():
        p50, p99 = pct(values, 0.5), pct(values, 0.99)
        report[name] = {
            "p50_ms": round(p50, 3),
            "p99_ms": round(p99, 3),
            "mean_ms": round(statistics.fmean(values), 3),
        }
        if name != "direct":
            report[name] |= {  # type: ignore[operator]
                "added_p50_ms": round(p50 - base50, 3),
                "added_p99_ms": round(p99 - base99, 3),
                "ratio_p50": round(p50 / base50, 3),
            }
    provider_added = report["provider"]["added_p50_ms"]  # type: ignore[index]
    report["meets_target"] = provider_added <= 1.0
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
