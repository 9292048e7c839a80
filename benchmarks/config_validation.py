"""Start-up with configured plugin sections: validated every start vs remembered.

A home whose config has sections for two built-in plugins with schemas
(``audit_log`` and ``llama_cpp``). Each sample is a fresh interpreter starting a
host with every built-in plugin, with a warm private bytecode cache (what an
installed llf-host gets). Rounds interleave three series so machine noise hits
them alike:

* ``python_c_pass``: the interpreter alone (baseline);
* ``validated_every_start``: the digest file is removed before each start, so
  the sections are checked with jsonschema (imported for it) every time;
* ``remembered``: the sections passed before; the start skips jsonschema.

Prints JSON: medians in ms and what remembering saves.

    python benchmarks/config_validation.py [--rounds 15]
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
from pathlib import Path

HOST_SNIPPET = """
import asyncio
from llf_host import Host

async def main():
    host = Host(entry_points=False)
    await host.start()
    failed = [r.name for r in host.plugins.values() if r.status == "failed"]
    await host.aclose()
    assert not failed, failed

asyncio.run(main())
"""

CONFIG = """\
[plugins.audit_log]
batch_size = 32
flush_interval_s = 0.5

[plugins.llama_cpp]
n_ctx = 2048
n_threads = 1
max_tokens = 256
"""


def run(args: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(args, env=env, check=True, stdout=subprocess.DEVNULL)
    return (time.perf_counter() - start) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=15)
    opts = parser.parse_args()
    with tempfile.TemporaryDirectory() as home, tempfile.TemporaryDirectory() as pycache:
        config = Path(home) / "config" / "config.toml"
        config.parent.mkdir(parents=True)
        config.write_text(CONFIG)
        digests = Path(home) / "cache" / "config-valid.txt"
        env = {k: v for k, v in os.environ.items() if not k.startswith("LLF_HOST")}
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["LLF_HOST_HOME"] = home
        env["PYTHONPYCACHEPREFIX"] = pycache
        host = [sys.executable, "-c", HOST_SNIPPET]
        run(host, env)  # fill the bytecode cache (and the digest file)
        series: dict[str, list[float]] = {
            "python_c_pass": [],
            "validated_every_start": [],
            "remembered": [],
        }
        for _ in range(opts.rounds):
            series["python_c_pass"].append(run([sys.executable, "-c", "pass"], env))
            digests.unlink(missing_ok=True)
            series["validated_every_start"].append(run(host, env))
            series["remembered"].append(run(host, env))
    medians = {name: round(statistics.median(values), 1) for name, values in series.items()}
    saved = medians["validated_every_start"] - medians["remembered"]
    print(
        json.dumps(
            {
                "benchmark": "config_validation",
                "python": sys.version.split()[0],
                "cpus": os.cpu_count(),
                "rounds": opts.rounds,
                "median_ms": medians,
                "remembering_saves_ms": round(saved, 1),
                "host_overhead_ms": {
                    "validated_every_start": round(
                        medians["validated_every_start"] - medians["python_c_pass"], 1
                    ),
                    "remembered": round(medians["remembered"] - medians["python_c_pass"], 1),
                },
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
