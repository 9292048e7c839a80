"""Hot reload latency: from a file write to the first response served by the new version.

Starts a real `llf-host serve` watching a plugins folder that holds one provider
plugin, then edits the plugin N times. After each write the client asks
continuously; the figure is the time from the write (after its rename) to the
first answer that comes from the new version. The baseline, measured in the same
run, is the round trip of one request on the unchanged version: the floor a
reload cannot beat. Prints JSON.

    python benchmarks/reload.py [--edits 30]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import textwrap
import time
from pathlib import Path

from llf_host.client import AsyncClient
from llf_host.testing import home_environ

PROVIDER = """
from llf_host import hookimpl
from llf_host.testing import MockProvider

@hookimpl
def llf_providers():
    return MockProvider("bench", reply="{reply}")
"""


def write(folder: Path, reply: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "plugin.toml").write_text('[plugin]\nname = "bench"\nversion = "1"\n')
    tmp = folder / ".plugin.py.tmp"
    tmp.write_text(textwrap.dedent(PROVIDER.format(reply=reply)))
    tmp.replace(folder / "plugin.py")


async def ask(client: AsyncClient) -> str:
    result = await client.chat("bench/echo", [{"role": "user", "content": "x"}])
    return result.message.content or ""


async def main(edits: int) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        plugins = root / "plugins"
        write(plugins / "bench", "v0")
        env = home_environ(root / "home", {"LLF_HOST_PLUGINS": "bench"})
        client = await AsyncClient.spawn(
            options=["--plugins-dir", str(plugins)], env=env, stderr=asyncio.subprocess.DEVNULL
        )
        await client.initialize()
        assert await ask(client) == "v0"
        baseline: list[float] = []
        for _ in range(200):
            start = time.perf_counter()
            await ask(client)
            baseline.append((time.perf_counter() - start) * 1000)
        latencies: list[float] = []
        for i in range(1, edits + 1):
            await asyncio.sleep(0.2)  # let the previous reload settle
            write(plugins / "bench", f"v{i}")
            start = time.perf_counter()
            while await ask(client) != f"v{i}":
                if time.perf_counter() - start > 10:
                    raise SystemExit(f"edit {i} not picked up within 10 s")
            latencies.append((time.perf_counter() - start) * 1000)
        await client.aclose()
    p50 = statistics.median(latencies)
    base = statistics.median(baseline)
    return {
        "benchmark": "reload",
        "cpus": os.cpu_count(),
        "edits": edits,
        "write_to_new_version_ms_p50": round(p50, 1),
        "write_to_new_version_ms_p90": round(sorted(latencies)[int(len(latencies) * 0.9) - 1], 1),
        "write_to_new_version_ms_max": round(max(latencies), 1),
        "baseline_request_ms_p50": round(base, 3),
        "ratio_vs_request": round(p50 / base, 1),
        "target_p50_ms": 300,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--edits", type=int, default=30)
    print(json.dumps(asyncio.run(main(parser.parse_args().edits)), indent=2))
