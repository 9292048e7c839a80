"""Cold start: import the host and load every built-in plugin, vs `python -c pass`.

Each sample is a fresh interpreter (the way `llf-host` starts). Rounds interleave
the baseline and the host so machine noise hits both alike. Prints JSON:
medians in ms, the host's own overhead (host - baseline) and the ratio.

The top-level figures use the environment as given. With PYTHONDONTWRITEBYTECODE=1
(set on some CI and sandbox machines) every module of the source tree is compiled
from source on every start, which an installed llf-host never does (pip writes the
.pyc files). ``with_bytecode_cache`` measures the same pair with a private, warm
bytecode cache (PYTHONPYCACHEPREFIX in a temporary folder), i.e. what users get.

    python benchmarks/cold_start.py [--rounds 15]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

HOST_SNIPPET = """
import asyncio
from llf_host import Host

async def main():
    host = Host(entry_points=False)
    await host.start()
    await host.aclose()

asyncio.run(main())
"""


def run(args: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(args, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return (time.perf_counter() - start) * 1000


def figures(baseline: list[float], host: list[float]) -> dict[str, float]:
    """Medians, overhead and ratio of one (baseline, host) series."""
    base_ms = statistics.median(baseline)
    host_ms = statistics.median(host)
    return {
        "baseline_python_c_pass_ms": round(base_ms, 1),
        "host_start_all_builtins_ms": round(host_ms, 1),
        "host_overhead_ms": round(host_ms - base_ms, 1),
        "ratio_vs_baseline": round(host_ms / base_ms, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=15)
    opts = parser.parse_args()
    with tempfile.TemporaryDirectory() as home, tempfile.TemporaryDirectory() as pycache:
        env = {k: v for k, v in os.environ.items() if not k.startswith("LLF_HOST")}
        env["LLF_HOST_HOME"] = home
        cached_env = {k: v for k, v in env.items() if k != "PYTHONDONTWRITEBYTECODE"}
        cached_env["PYTHONPYCACHEPREFIX"] = pycache
        baseline: list[float] = []
        host: list[float] = []
        cached_baseline: list[float] = []
        cached_host: list[float] = []
        run([sys.executable, "-c", HOST_SNIPPET], env)  # warm the page cache / pyc files
        run([sys.executable, "-c", HOST_SNIPPET], cached_env)  # fill the private pyc cache
        for _ in range(opts.rounds):
            baseline.append(run([sys.executable, "-c", "pass"], env))
            host.append(run([sys.executable, "-c", HOST_SNIPPET], env))
            cached_baseline.append(run([sys.executable, "-c", "pass"], cached_env))
            cached_host.append(run([sys.executable, "-c", HOST_SNIPPET], cached_env))
        probe = subprocess.run(
            [
                sys.executable,
                "-c",
                "import asyncio; from llf_host import Host\n"
                "h = Host(entry_points=False); asyncio.run(h.start())\n"
                "import json\n"
                "print(json.dumps({s: [r.name for r in h.plugins.values() if r.status == s]"
                " for s in ('ok', 'failed')}))",
            ],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
    plugins = json.loads(probe.stdout.strip().splitlines()[-1])
    print(
        json.dumps(
            {
                "benchmark": "cold_start",
                "python": sys.version.split()[0],
                "cpus": os.cpu_count(),
                "rounds": opts.rounds,
                "builtin_plugins_ok": plugins["ok"],
                "builtin_plugins_failed": plugins["failed"],
                "env_writes_bytecode": "PYTHONDONTWRITEBYTECODE" not in env,
                **figures(baseline, host),
                "with_bytecode_cache": figures(cached_baseline, cached_host),
                "target_ms": 150,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
