"""Per-call overhead of a trivial tool through the full sandbox, against two baselines.

Same run, same tool (``add(a, b) -> {"sum": a + b}``, result back as JSON):

* ``sandbox_full``: a warm worker, a fresh child per call, every layer (rlimits,
  empty network namespace, mount namespace + tmpfs workdir, pid namespace, pids
  cgroup, Landlock, seccomp, capabilities dropped); the child is forked and
  confined before the call arrives (a spare, see ``llf_sandbox._zygote``);
* ``sandbox_full_no_prefork``: the same, forked and confined when the call
  arrives (``[sandbox] prefork = false``): what the spare saves;
* ``sandbox_without_<layer>``: the same with one layer off (what each costs);
* ``sandbox_bare``: fork per call with rlimits only (no namespace, no Landlock,
  no seccomp, no cgroup);
* ``a_fresh_python``: ``python -I -S`` started per call (what the warm worker avoids);
* ``b_in_process``: the function called in the host + a JSON round trip.

Variants run round-robin in batches so load changes hit all of them alike.
Prints JSON: p50/p90/p99 in ms per variant and the ratios the target is about
(full sandbox p50 <= 3 ms; >= 7x faster than a fresh interpreter).

    python benchmarks/sandbox.py [--calls 300] [--batch 25]
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

from llf_sandbox import Limits
from llf_sandbox import Worker
from llf_sandbox import WorkerSpec
from llf_sandbox.probe import probe

TOOL = 'def add(a, b):\n    return {"sum": a + b}\n'
LAYER_NAMES = ("netns", "mountns", "pidns", "landlock", "seccomp", "cgroup")


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)

    def pick(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 3)

    return {
        "p50": pick(0.50),
        "p90": pick(0.90),
        "p99": pick(0.99),
        "mean": round(statistics.fmean(ordered), 3),
        "n": len(ordered),
    }


def make_spec(
    plugin_dir: Path, runtime: Path, name: str, off: set[str], *, prefork: bool = True
) -> WorkerSpec:
    report = probe()
    cgroup = report.cgroup_parent
    return WorkerSpec(
        plugin=f"bench-{name}",
        functions={"tools:add": ("_llf_tools.bench.tools", "add")},
        packages={"_llf_tools.bench": [str(plugin_dir)]},
        plugin_paths=[str(plugin_dir)],
        runtime_dir=str(runtime / name),
        cgroup_root=(
            None if "cgroup" in off or not cgroup else f"{cgroup}/llf-sandbox/bench-{name}"
        ),
        layers={layer: layer not in off for layer in LAYER_NAMES if layer != "cgroup"},
        prefork=prefork,
        spare_limits=Limits(timeout_s=10),
    )


async def time_worker(worker: Worker, limits: Limits, count: int) -> list[float]:
    samples = []
    for i in range(count):
        t0 = time.perf_counter()
        outcome = await worker.call("tools:add", {"a": i, "b": 2}, limits)
        samples.append((time.perf_counter() - t0) * 1000)
        if not outcome.ok or outcome.result != {"sum": i + 2}:
            raise SystemExit(f"benchmark call failed: {outcome}")
    return samples


def time_fresh_python(plugin_dir: Path, count: int) -> list[float]:
    code = (
        "import sys, json\n"
        f"sys.path.insert(0, {str(plugin_dir)!r})\n"
        "from tools import add\n"
        "args = json.loads(sys.argv[1])\n"
        "sys.stdout.write(json.dumps(add(**args)))\n"
    )
    samples = []
    for i in range(count):
        t0 = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-I", "-S", "-c", code, json.dumps({"a": i, "b": 2})],
            capture_output=True,
            check=True,
            env={"PATH": "/usr/bin:/bin"},
        )
        if json.loads(done.stdout) != {"sum": i + 2}:
            raise SystemExit("fresh-interpreter call failed")
        samples.append((time.perf_counter() - t0) * 1000)
    return samples


def time_in_process(count: int) -> list[float]:
    namespace: dict[str, object] = {}
    exec(TOOL, namespace)  # the same function, defined in this process
    add = namespace["add"]
    samples = []
    for i in range(count):
        t0 = time.perf_counter()
        args = json.loads(json.dumps({"a": i, "b": 2}))
        result = json.loads(json.dumps(add(**args)))  # type: ignore[operator]
        samples.append((time.perf_counter() - t0) * 1000)
        assert result == {"sum": i + 2}
    return samples


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--batch", type=int, default=25)
    args = parser.parse_args()
    limits = Limits(timeout_s=10)
    with tempfile.TemporaryDirectory(prefix="llf-bench-") as tmp:
        plugin_dir = Path(tmp) / "plugin"
        plugin_dir.mkdir()
        (plugin_dir / "tools.py").write_text(TOOL)
        runtime = Path(tmp) / "runtime"
        variants: dict[str, set[str]] = {"sandbox_full": set()}
        variants.update({f"sandbox_without_{layer}": {layer} for layer in LAYER_NAMES})
        variants["sandbox_bare"] = set(LAYER_NAMES)
        variants["sandbox_full_no_prefork"] = set()
        workers: dict[str, Worker] = {}
        layers: dict[str, dict[str, object]] = {}
        try:
            for name, off in variants.items():
                prefork = name != "sandbox_full_no_prefork"
                worker = Worker(make_spec(plugin_dir, runtime, name, off, prefork=prefork))
                info = await worker.start()
                layers[name] = info.layers
                workers[name] = worker
                await time_worker(worker, limits, 10)  # warm-up
            samples: dict[str, list[float]] = {name: [] for name in variants}
            samples["a_fresh_python"] = []
            samples["b_in_process"] = []
            done = 0
            while done < args.calls:
                batch = min(args.batch, args.calls - done)
                for name, worker in workers.items():
                    samples[name] += await time_worker(worker, limits, batch)
                samples["a_fresh_python"] += time_fresh_python(plugin_dir, batch)
                samples["b_in_process"] += time_in_process(batch)
                done += batch
        finally:
            for worker in workers.values():
                await worker.aclose()
    results = {name: percentiles(values) for name, values in samples.items()}
    full = results["sandbox_full"]["p50"]
    fresh = results["a_fresh_python"]["p50"]
    layer_cost = {
        layer: round(full - results[f"sandbox_without_{layer}"]["p50"], 3) for layer in LAYER_NAMES
    }
    print(
        json.dumps(
            {
                "benchmark": "sandbox per-call overhead",
                "calls_per_variant": args.calls,
                "python": sys.version.split()[0],
                "layers_applied": layers["sandbox_full"],
                "results_ms": results,
                "ratios": {
                    "fresh_python_p50_over_sandbox_p50": round(fresh / full, 2),
                    "sandbox_p50_over_in_process_p50": round(
                        full / max(results["b_in_process"]["p50"], 1e-6), 1
                    ),
                    "sandbox_p50_over_bare_fork_p50": round(
                        full / results["sandbox_bare"]["p50"], 2
                    ),
                    "no_prefork_p50_over_sandbox_p50": round(
                        results["sandbox_full_no_prefork"]["p50"] / full, 2
                    ),
                },
                "layer_cost_p50_ms": layer_cost,
                "targets": {
                    "sandbox_p50_le_3ms": full <= 3.0,
                    "at_least_7x_faster_than_fresh_python": fresh / full >= 7.0,
                },
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    asyncio.run(main())
