"""Five concurrent chats to a slow engine take about as long as the slowest single one.

A loopback OpenAI-compatible server (``/v1/chat/completions`` streaming SSE,
one thread per request) waits ``--delay`` seconds before its first token; a
minimal httpx provider, loaded as a real drop-in plugin, talks to it; every
call goes through the router (``host.services["router"]``). Per round, in the
same run:

- ``single``: one call at a time, ``--n`` times; the slowest is the baseline;
- ``concurrent``: ``--n`` calls at once (``asyncio.gather`` over ``router.chat``);
- ``concurrent_limited``: the same with an endpoint limiter configured
  (``max_concurrency = n``, rpm/tpm buckets), to show the limiter costs nothing;
- ``sequential``: ``--n`` calls one after another.

Prints JSON: medians over the rounds and the ratios; ``ok`` is true when
``concurrent / slowest single <= 1.2``.

    .venv/bin/python benchmarks/concurrency.py [--n 5] [--delay 0.4] [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import textwrap
import threading
import time
from http.server import BaseHTTPRequestHandler
from http.server import ThreadingHTTPServer
from pathlib import Path

from llf_host import ChatOptions
from llf_host import ChatRequest
from llf_host import Message
from llf_host._routing.service import get_router
from llf_host.testing import isolated_host


def make_server(delay: float) -> ThreadingHTTPServer:
    """An OpenAI-compatible SSE server that waits ``delay`` s before answering."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):  # keep stderr quiet
            pass

        def do_POST(self):
            length = int(self.headers.get("Content-Length", "0"))
            self.rfile.read(length)
            time.sleep(delay)
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-cache")
            self.send_header("Connection", "close")
            self.end_headers()
            events = [
                {"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]},
                *(
                    {"choices": [{"index": 0, "delta": {"content": word}}]}
                    for word in ("slow ", "but ", "steady")
                ),
                {
                    "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": 8, "completion_tokens": 3, "total_tokens": 11},
                },
            ]
            for event in events:
                self.wfile.write(f"data: {json.dumps(event)}\n\n".encode())
            self.wfile.write(b"data: [DONE]\n\n")
            self.wfile.flush()
            self.close_connection = True

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    return server


PLUGIN = '''
"""A minimal provider for an OpenAI-compatible SSE endpoint (benchmark only)."""
import json

import httpx

from llf_host import ChatChunk, ModelInfo, Provider, ProviderUnavailableError, Usage, hookimpl

URL = {url!r}


class Slow(Provider):
    prefix = "slow"
    description = "loopback SSE server with a fixed delay"

    def __init__(self):
        limits = httpx.Limits(max_connections=64, max_keepalive_connections=0)
        self.client = httpx.AsyncClient(timeout=httpx.Timeout(30.0, connect=2.0), limits=limits)

    async def list_models(self):
        return [ModelInfo(id="slow/model", name="model", provider="slow", local=True)]

    async def chat(self, request):
        body = {{
            "model": request.model,
            "messages": [{{"role": m.role, "content": m.content}} for m in request.messages],
            "stream": True,
        }}
        try:
            async with self.client.stream("POST", URL, json=body) as response:
                async for line in response.aiter_lines():
                    if not line.startswith("data:"):
                        continue
                    data = line[5:].strip()
                    if data == "[DONE]":
                        break
                    event = json.loads(data)
                    choices = event.get("choices") or [{{}}]
                    delta = choices[0].get("delta") or {{}}
                    usage = event.get("usage")
                    yield ChatChunk(
                        content=delta.get("content") or "",
                        finish_reason=choices[0].get("finish_reason"),
                        usage=Usage(**usage) if usage else None,
                    )
        except httpx.ConnectError as exc:
            raise ProviderUnavailableError(f"{{URL}}: {{exc}}", hint="start the server") from exc

    async def aclose(self):
        await self.client.aclose()


@hookimpl
def llf_providers():
    return Slow()
'''


def write_plugin(root: Path, url: str) -> Path:
    folder = root / "slowbench"
    folder.mkdir()
    (folder / "plugin.toml").write_text(
        '[plugin]\nname = "slowbench"\nversion = "1.0"\n\n'
        '[permissions]\nnetwork = ["127.0.0.1:*"]\n'
    )
    (folder / "plugin.py").write_text(textwrap.dedent(PLUGIN.format(url=url)))
    return folder


def request() -> ChatRequest:
    return ChatRequest(
        model="slow/model",
        model_id="slow/model",
        messages=[Message(role="user", content="say something slowly")],
        options=ChatOptions(max_tokens=16),
    )


async def timed(coro) -> float:
    start = time.perf_counter()
    result = await coro
    assert result.message.content == "slow but steady", result.message.content
    return time.perf_counter() - start


async def one_round(router, n: int) -> dict[str, float]:
    singles = [await timed(router.chat(request())) for _ in range(n)]
    start = time.perf_counter()
    await asyncio.gather(*(timed(router.chat(request())) for _ in range(n)))
    concurrent = time.perf_counter() - start
    start = time.perf_counter()
    for _ in range(n):
        await timed(router.chat(request()))
    sequential = time.perf_counter() - start
    return {
        "single_max_s": max(singles),
        "single_median_s": statistics.median(singles),
        "concurrent_s": concurrent,
        "sequential_s": sequential,
    }


async def limited_round(router, n: int) -> float:
    start = time.perf_counter()
    await asyncio.gather(*(timed(router.chat(request())) for _ in range(n)))
    return time.perf_counter() - start


async def main(n: int, delay: float, rounds: int) -> dict[str, object]:
    server = make_server(delay)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}/v1/chat/completions"
    try:
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            plugin = write_plugin(root, url)
            limits = {"slow": {"max_concurrency": n, "rpm": 6000, "tpm": 10_000_000}}
            async with (
                isolated_host(root / "home", plugins=[plugin]) as plain,
                isolated_host(
                    root / "home2", plugins=[plugin], config={"routing": {"limits": limits}}
                ) as limited,
            ):
                router = get_router(plain)
                limited_router = get_router(limited)
                await router.chat(request())  # warm-up: imports, connection setup
                await limited_router.chat(request())
                results = []
                limited_times = []
                for _ in range(rounds):
                    results.append(await one_round(router, n))
                    limited_times.append(await limited_round(limited_router, n))
                stats = router.stats()["by_model"]["slow/model"]
    finally:
        server.shutdown()
        server.server_close()

    def med(key: str) -> float:
        return statistics.median(r[key] for r in results)

    single_max = med("single_max_s")
    concurrent = med("concurrent_s")
    concurrent_limited = statistics.median(limited_times)
    sequential = med("sequential_s")
    ratio = concurrent / single_max
    return {
        "benchmark": "concurrency",
        "n": n,
        "server_delay_s": delay,
        "rounds": rounds,
        "single_max_s": round(single_max, 4),
        "single_median_s": round(med("single_median_s"), 4),
        "concurrent_s": round(concurrent, 4),
        "concurrent_limited_s": round(concurrent_limited, 4),
        "sequential_s": round(sequential, 4),
        "ratio_concurrent_to_slowest_single": round(ratio, 3),
        "ratio_limited_to_slowest_single": round(concurrent_limited / single_max, 3),
        "ratio_sequential_to_concurrent": round(sequential / concurrent, 3),
        "router_latency_p50_ms": stats["latency_ms"]["p50"],
        "target": "concurrent <= 1.2 x slowest single",
        "ok": ratio <= 1.2,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=5, help="concurrent chats")
    parser.add_argument("--delay", type=float, default=0.4, help="server delay in seconds")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(main(args.n, args.delay, args.rounds)), indent=2))
