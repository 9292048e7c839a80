"""The unprivileged path: the worker runs as uid 65534 and builds its box in a user
namespace (root here only lends the uid; /usr/bin/python3 is readable by it)."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from llf_sandbox import Limits
from llf_sandbox import Worker
from llf_sandbox import WorkerSpec
from llf_sandbox.probe import probe

from .conftest import PLUGINS
from .conftest import processes_with_comm

NOBODY = 65534
PYTHON = "/usr/bin/python3"

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not os.access(PYTHON, os.X_OK) or not probe().layers()["userns"][0],
    reason="needs root (to lend a uid), /usr/bin/python3 and user namespaces",
)


@pytest.fixture
async def unprivileged(marker):
    base = Path(tempfile.mkdtemp(prefix="llf-unpriv-"))
    try:
        base.chmod(0o755)
        plugin = base / "hostile"
        shutil.copytree(PLUGINS / "hostile", plugin)
        for path in [plugin, *plugin.rglob("*")]:
            path.chmod(0o755 if path.is_dir() else 0o644)
        refs = ("benign", "daemon", "read_secret", "tcp_connect", "fork_bomb", "disk_fill")
        spec = WorkerSpec(
            plugin="hostile",
            functions={f"a:{name}": ("_llf_tools.h.attacks", name) for name in refs},
            packages={"_llf_tools.h": [str(plugin)]},
            plugin_paths=[str(plugin)],
            runtime_dir=str(base / "runtime"),
            python=PYTHON,
            user=NOBODY,
        )
        worker = Worker(spec)
        await worker.start()
        try:
            yield worker, base
        finally:
            await worker.aclose()
    finally:
        shutil.rmtree(base, ignore_errors=True)


async def test_the_unprivileged_box_holds(unprivileged, marker):
    worker, base = unprivileged
    layers = worker.info.layers
    assert layers["userns"] is True and layers["pidns"] is True and layers["netns"] is True
    assert layers["landlock"] and layers["seccomp"] is True
    secret = base / "secret.txt"
    secret.write_text("nobody's secret")
    os.chown(secret, NOBODY, NOBODY)
    secret.chmod(0o600)
    denied = await worker.call("a:read_secret", {"path": str(secret)}, Limits())
    assert denied.status == "denied"
    assert (await worker.call("a:tcp_connect", {"port": 9}, Limits())).status == "denied"
    daemon = await worker.call("a:daemon", {"marker": marker}, Limits())
    assert daemon.ok and processes_with_comm(marker) == []
    # No cgroup here: RLIMIT_NPROC (per uid, host-wide) is the bound.
    bomb = await worker.call("a:fork_bomb", {"marker": marker}, Limits(processes=10))
    assert bomb.ok and bomb.result < 10
    assert processes_with_comm(marker) == []
    fill = await worker.call("a:disk_fill", {}, Limits(workdir_mb=4))
    assert fill.status == "resource_limit"
    assert (await worker.call("a:benign", {"x": 4}, Limits())).result["x"] == 4
