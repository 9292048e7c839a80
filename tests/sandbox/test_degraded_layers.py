"""The worker with layers turned off (what degraded mode runs): still bounded.

Without a pid namespace the pids cgroup is the teardown; without a mount
namespace the workdir is a plain per-call folder whose size the worker polls.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from llf_sandbox import Limits
from llf_sandbox import Worker
from llf_sandbox import WorkerSpec
from llf_sandbox.probe import probe

from .conftest import PLUGINS
from .conftest import processes_with_comm

HOSTILE = PLUGINS / "hostile"


def _spec(tmp_path: Path, off: set[str], *, cgroup: bool = True) -> WorkerSpec:
    parent = probe().cgroup_parent
    refs = ("benign", "daemon", "disk_fill", "fork_bomb")
    return WorkerSpec(
        plugin="hostile",
        functions={f"attacks:{name}": ("_llf_tools.hostile.attacks", name) for name in refs},
        packages={"_llf_tools.hostile": [str(HOSTILE)]},
        plugin_paths=[str(HOSTILE)],
        runtime_dir=str(tmp_path / "runtime"),
        cgroup_root=f"{parent}/llf-sandbox/test-{tmp_path.name}" if cgroup and parent else None,
        layers={name: False for name in off},
    )


@pytest.fixture
async def worker_without(tmp_path, request):
    worker = Worker(_spec(tmp_path, set(request.param)))
    info = await worker.start()
    for name in request.param:
        assert info.layers[name] is not True
    try:
        yield worker
    finally:
        await worker.aclose()


@pytest.mark.parametrize("worker_without", [("pidns",)], indirect=True)
async def test_without_a_pid_namespace_the_cgroup_kills_a_daemon(worker_without, marker):
    if probe().cgroup_parent is None:
        pytest.skip("no writable pids cgroup here")
    outcome = await worker_without.call("attacks:daemon", {"marker": marker}, Limits())
    assert outcome.ok
    assert processes_with_comm(marker) == []
    bomb = await worker_without.call("attacks:fork_bomb", {"marker": marker}, Limits(processes=8))
    assert bomb.ok and bomb.result < 8 and "processes" in bomb.limits_hit
    assert processes_with_comm(marker) == []


@pytest.mark.parametrize("worker_without", [("mountns",)], indirect=True)
async def test_without_a_mount_namespace_the_workdir_budget_is_polled(worker_without):
    outcome = await worker_without.call("attacks:disk_fill", {}, Limits(workdir_mb=4))
    assert outcome.status == "resource_limit" and outcome.detail["limit"] == "workdir_mb"
    benign = await worker_without.call("attacks:benign", {"x": 2}, Limits())
    assert benign.ok and benign.result["x"] == 2
