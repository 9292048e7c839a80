"""Memory stays flat under load (loose check; the benchmark prints the figures)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from llf_host.client import AsyncClient


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


async def echo_many(client: AsyncClient, count: int) -> None:
    for start in range(0, count, 64):
        await asyncio.gather(
            *(
                client.request("host/echo", {"value": i})
                for i in range(start, min(count, start + 64))
            )
        )


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs /proc")
async def test_rss_after_20k_requests_within_10_percent_of_1k(client: AsyncClient) -> None:
    assert client.process is not None
    await echo_many(client, 1000)
    after_1k = rss_kb(client.process.pid)
    await echo_many(client, 19_000)
    after_20k = rss_kb(client.process.pid)
    assert after_20k <= after_1k * 1.10, (after_1k, after_20k)
