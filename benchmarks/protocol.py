"""Protocol figures for `llf-host serve`, against a raw asyncio floor measured in the same run.

    .venv/bin/python benchmarks/protocol.py [--rounds 3] [--quick]

Both servers are spoken to by the same lean client (Content-Length framing,
msgspec). The floor is a minimal asyncio server written below: it reads stdin
with ``connect_read_pipe``, parses frames, decodes each body with msgspec and
answers ``initialize`` and ``host/echo`` inline. It has no lifecycle rules, no
tasks, no validation and no plugins: it is what the pipes and JSON cost.

Figures (medians over the rounds, printed as JSON):

- cold start: spawn the process, send ``initialize``, receive the answer (ms);
  llf-host with every built-in plugin, and with none (``LLF_HOST_PLUGINS=""``);
- sequential round trips of ``host/echo {"value": "ping"}``: 2,000 after 200
  warm-up requests, p50/p99 (µs);
- throughput with 64 requests in flight, 10,000 requests (req/s, and p50 ms);
- echo of a 1 MiB and a 16 MiB string (round trip, ms);
- RSS of the server after 1,000 and after 20,000 requests (MB).

Ratios are llf-host / floor (lower is better, except throughput).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import msgspec

from llf_host._rpc.framing import FrameParser
from llf_host._rpc.framing import encode_frame

FLOOR_SERVER = r"""
import asyncio, os, sys
import msgspec

enc = msgspec.json.encode
dec = msgspec.json.decode

class Reader(asyncio.Protocol):
    def __init__(self, out, done):
        self.buf = bytearray()
        self.out = out
        self.done = done

    def data_received(self, data):
        buf = self.buf
        buf += data
        pos = 0
        while True:
            end = buf.find(b"\r\n\r\n", pos)
            if end < 0:
                break
            length = int(buf[pos:end].split(b":")[1])
            if len(buf) - end - 4 < length:
                break
            body = bytes(buf[end + 4:end + 4 + length])
            pos = end + 4 + length
            msg = dec(body)
            if "id" not in msg:
                continue
            if msg.get("method") == "initialize":
                result = {"capabilities": {}}
            else:
                result = {"value": msg["params"]["value"]}
            reply = enc({"jsonrpc": "2.0", "id": msg["id"], "result": result})
            self.out.write(b"Content-Length: %d\r\n\r\n%b" % (len(reply), reply))
        del buf[:pos]

    def eof_received(self):
        self.done.set_result(None)

async def main():
    loop = asyncio.get_running_loop()
    done = loop.create_future()
    out, _ = await loop.connect_write_pipe(asyncio.BaseProtocol, os.fdopen(1, "wb", 0))
    await loop.connect_read_pipe(lambda: Reader(out, done), os.fdopen(0, "rb", 0))
    await done

asyncio.run(main())
"""


class BenchClient:
    """The same lean client for both servers."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.pending: dict[int, asyncio.Future[bytes]] = {}
        self.next_id = 0
        self.reader = asyncio.get_running_loop().create_task(self._read())

    @classmethod
    async def spawn(cls, argv: list[str], env: dict[str, str]) -> BenchClient:
        process = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
            env=env,
            limit=1 << 20,
        )
        return cls(process)

    async def _read(self) -> None:
        parser = FrameParser(1 << 31)
        assert self.process.stdout is not None
        while data := await self.process.stdout.read(1 << 18):
            for body in parser.feed(data):
                assert isinstance(body, bytes), body
                reply = msgspec.json.decode(body)
                future = self.pending.pop(reply["id"], None)
                if future is not None:
                    future.set_result(body)

    def send(self, method: str, params: object) -> asyncio.Future[bytes]:
        self.next_id += 1
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self.pending[self.next_id] = future
        body = msgspec.json.encode(
            {"jsonrpc": "2.0", "id": self.next_id, "method": method, "params": params}
        )
        assert self.process.stdin is not None
        self.process.stdin.write(encode_frame(body))
        return future

    async def call(self, method: str, params: object) -> bytes:
        future = self.send(method, params)
        assert self.process.stdin is not None
        await self.process.stdin.drain()
        return await future

    def notify(self, method: str) -> None:
        body = msgspec.json.encode({"jsonrpc": "2.0", "method": method, "params": {}})
        assert self.process.stdin is not None
        self.process.stdin.write(encode_frame(body))

    def rss_mb(self) -> float:
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    async def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        try:
            await asyncio.wait_for(self.process.wait(), 10)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()
        self.reader.cancel()


async def start(argv: list[str], env: dict[str, str]) -> tuple[BenchClient, float]:
    t0 = time.perf_counter()
    client = await BenchClient.spawn(argv, env)
    await client.call("initialize", {"processId": os.getpid(), "clientInfo": {"name": "bench"}})
    elapsed = (time.perf_counter() - t0) * 1000
    client.notify("initialized")
    return client, elapsed


async def cold(argv: list[str], env: dict[str, str], n: int) -> float:
    times = []
    for _ in range(n):
        client, ms = await start(argv, env)
        times.append(ms)
        await client.close()
    return statistics.median(times)


async def sequential(client: BenchClient, n: int) -> tuple[float, float]:
    for _ in range(200):
        await client.call("host/echo", {"value": "ping"})
    samples = []
    for _ in range(n):
        t0 = time.perf_counter()
        await client.call("host/echo", {"value": "ping"})
        samples.append((time.perf_counter() - t0) * 1e6)
    samples.sort()
    return samples[len(samples) // 2], samples[int(len(samples) * 0.99)]


async def pipelined(client: BenchClient, total: int, window: int) -> tuple[float, float]:
    latencies: list[float] = []
    sent = 0
    assert client.process.stdin is not None

    async def worker() -> None:
        nonlocal sent
        while sent < total:
            sent += 1
            t0 = time.perf_counter()
            future = client.send("host/echo", {"value": "ping"})
            await client.process.stdin.drain()  # type: ignore[union-attr]
            await future
            latencies.append((time.perf_counter() - t0) * 1000)

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(window)))
    elapsed = time.perf_counter() - t0
    latencies.sort()
    return total / elapsed, latencies[len(latencies) // 2]


async def payload(client: BenchClient, size: int, reps: int) -> float:
    value = "x" * size
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        body = await client.call("host/echo", {"value": value})
        times.append((time.perf_counter() - t0) * 1000)
        assert len(body) > size
    return statistics.median(times)


async def rss_after(client: BenchClient, counts: tuple[int, int]) -> tuple[float, float]:
    done = 0
    out = []
    for target in counts:
        while done < target:
            batch = min(64, target - done)
            await asyncio.gather(
                *(client.send("host/echo", {"value": "ping"}) for _ in range(batch))
            )
            done += batch
        await asyncio.sleep(0.05)
        out.append(client.rss_mb())
    return out[0], out[1]


async def measure(name: str, argv: list[str], env: dict[str, str], quick: bool) -> dict[str, float]:
    n_cold = 3 if quick else 10
    seq_n = 500 if quick else 2000
    total = 2000 if quick else 10_000
    figures: dict[str, float] = {"cold_start_ms": await cold(argv, env, n_cold)}
    client, _ = await start(argv, env)
    try:
        figures["seq_p50_us"], figures["seq_p99_us"] = await sequential(client, seq_n)
        figures["inflight64_req_s"], figures["inflight64_p50_ms"] = await pipelined(
            client, total, 64
        )
        figures["payload_1mib_ms"] = await payload(client, 1 << 20, 3)
        if not quick:
            figures["payload_16mib_ms"] = await payload(client, 16 << 20, 3)
    finally:
        await client.close()
    client, _ = await start(argv, env)
    try:
        counts = (1000, 5000) if quick else (1000, 20_000)
        figures["rss_after_1k_mb"], figures["rss_after_20k_mb"] = await rss_after(client, counts)
    finally:
        await client.close()
    print(f"# {name}: {json.dumps({k: round(v, 2) for k, v in figures.items()})}", file=sys.stderr)
    return figures


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="smaller counts, for a smoke run")
    args = parser.parse_args()
    home = tempfile.mkdtemp(prefix="llf-bench-")
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLF_HOST")}
    env["LLF_HOST_HOME"] = home
    bare_env = dict(env, LLF_HOST_PLUGINS="")
    # An installed llf-host runs from compiled bytecode; PYTHONDONTWRITEBYTECODE (set on
    # some machines) makes every start compile every module again. Measure both.
    cached_env = {k: v for k, v in env.items() if k != "PYTHONDONTWRITEBYTECODE"}
    cached_env["PYTHONPYCACHEPREFIX"] = tempfile.mkdtemp(prefix="llf-bench-pyc-")
    cached_cold: list[float] = []
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as handle:
        handle.write(FLOOR_SERVER)
        floor_script = handle.name
    llf = [sys.executable, "-m", "llf_host._cli", "serve", "--no-watch"]
    floor = [sys.executable, floor_script]
    rounds: dict[str, list[dict[str, float]]] = {"llf_host": [], "raw_floor": []}
    bare_cold: list[float] = []
    try:
        for _ in range(args.rounds):  # interleaved, so drift hits both alike
            rounds["raw_floor"].append(await measure("raw_floor", floor, env, args.quick))
            rounds["llf_host"].append(await measure("llf_host", llf, env, args.quick))
            bare_cold.append(await cold(llf, bare_env, 3 if args.quick else 10))
            await cold(llf, cached_env, 1)  # fills the bytecode cache
            cached_cold.append(await cold(llf, cached_env, 3 if args.quick else 10))
    finally:
        os.unlink(floor_script)
    medians = {
        name: {key: round(statistics.median(r[key] for r in runs), 2) for key in runs[0]}
        for name, runs in rounds.items()
    }
    medians["llf_host"]["cold_start_no_plugins_ms"] = round(statistics.median(bare_cold), 2)
    medians["llf_host"]["cold_start_bytecode_cache_ms"] = round(statistics.median(cached_cold), 2)
    ours, base = medians["llf_host"], medians["raw_floor"]
    ratios = {
        key: round(ours[key] / base[key], 2)
        for key in base
        if base[key] and key in ours and not key.startswith("rss")
    }
    ratios["rss_growth_1k_to_20k"] = round(ours["rss_after_20k_mb"] / ours["rss_after_1k_mb"], 3)
    targets = {
        "seq_p50_within_1.3x_floor": ratios["seq_p50_us"] <= 1.3,
        "inflight64_at_least_15k_req_s": ours["inflight64_req_s"] >= 15_000,
        "cold_start_at_most_150_ms": ours["cold_start_ms"] <= 150,
        "cold_start_with_bytecode_cache_at_most_150_ms": ours["cold_start_bytecode_cache_ms"]
        <= 150,
        "rss_growth_within_10_percent": ratios["rss_growth_1k_to_20k"] <= 1.10,
    }
    print(
        json.dumps(
            {
                "rounds": args.rounds,
                "cpus": os.cpu_count(),
                "env_writes_bytecode": "PYTHONDONTWRITEBYTECODE" not in env,
                **medians,
                "ratios": ratios,
                "targets_met": targets,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    asyncio.run(main())
