"""Audit log throughput: batched fsync vs one fsync per record, and the cost of host.audit().

Prints one JSON object. Every figure is measured in the same run and compared as
a ratio against its baseline:

- ``batched_vs_per_record``: records/s written (and fsync'd) with the default
  batch of 64, over records/s with ``batch_size = 1``;
- ``emit_overhead``: time of ``host.audit()`` with the audit_log plugin loaded
  over the time without any auditor (both only queue the event).

Usage: python benchmarks/audit_log.py [--events N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from pathlib import Path

from llf_host.testing import isolated_host

PLUGIN = Path(__file__).resolve().parents[1] / "plugins" / "audit_log"


async def write_rate(events: int, batch_size: int) -> float:
    """Records per second, from the first emit until every record is on disk."""
    with tempfile.TemporaryDirectory() as home:
        config = {"plugins": {"audit_log": {"batch_size": batch_size}}}
        async with isolated_host(Path(home), plugins=[PLUGIN], config=config) as host:
            await host.audit_bus.drain()
            start = time.perf_counter()
            for index in range(events):
                host.audit("bench.event", plugin="bench", index=index, text="x" * 40)
                if index % 5000 == 4999:
                    await host.audit_bus.drain(timeout=600)  # the queue holds 10,000
            await host.audit_bus.drain(timeout=600)
            auditor = host.registry.auditors[0].obj
            await auditor.flush()
            elapsed = time.perf_counter() - start
            assert host.audit_bus.dropped == 0
    return events / elapsed


async def emit_time(events: int, with_auditor: bool) -> float:
    """Microseconds per host.audit() call (queueing only)."""
    with tempfile.TemporaryDirectory() as home:
        plugins = [PLUGIN] if with_auditor else []
        async with isolated_host(Path(home), plugins=plugins) as host:
            start = time.perf_counter()
            for index in range(events):
                host.audit("bench.event", index=index)
            elapsed = time.perf_counter() - start
            await host.audit_bus.drain(timeout=600)
    return elapsed / events * 1e6


async def main(events: int) -> dict[str, object]:
    per_record = await write_rate(max(events // 10, 200), batch_size=1)
    batched = await write_rate(events, batch_size=64)
    bare = await emit_time(min(events, 9000), with_auditor=False)
    audited = await emit_time(min(events, 9000), with_auditor=True)
    return {
        "benchmark": "audit_log",
        "events": events,
        "records_per_s": {"batch_64": round(batched), "batch_1": round(per_record)},
        "batched_vs_per_record": round(batched / per_record, 2),
        "emit_us": {"no_auditor": round(bare, 2), "audit_log": round(audited, 2)},
        "emit_overhead": round(audited / bare, 2),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(main(args.events)), indent=2))
