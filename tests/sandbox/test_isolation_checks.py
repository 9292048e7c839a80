"""Fail closed: missing layers refuse tools unless degraded mode is allowed (and audited);
the probe, doctor and health report; the worker's child side stays small."""

from __future__ import annotations

import ast
import sys
import types
from pathlib import Path

import pytest

from llf_host import SandboxDenied
from llf_host._doctor import run_sections
from llf_host._doctor import sandbox_health
from llf_host._tools._grants import EffectiveGrants
from llf_host._tools._settings import SandboxSettings
from llf_host._tools._workers import WorkerPool
from llf_sandbox import NetworkGrant
from llf_sandbox import WorkerInfo
from llf_sandbox.probe import probe

SANDBOX = Path(__file__).resolve().parents[2] / "sandbox" / "llf_sandbox"
CHILD_SIDE = [
    "_zygote",
    "_child",
    "_classify",
    "_cgroup",
    "_landlock",
    "_seccomp",
    "_syscalls",
    "_wire",
    "_probe_child",
    "_worker_setup",
]


class _Worker:
    """Stands in for a started worker: only ``info`` and ``aclose`` are used here."""

    def __init__(self, layers):
        self.info = WorkerInfo(pid=1, layers=layers, imports={})
        self.closed = False

    async def aclose(self):
        self.closed = True


def _record():
    return types.SimpleNamespace(name="p")


FULL = {
    "netns": True,
    "mountns": True,
    "pidns": True,
    "cgroup": True,
    "landlock": 7,
    "seccomp": True,
}
NO_GRANTS = EffectiveGrants(NetworkGrant(), (), ())


async def test_a_missing_layer_refuses_and_is_audited():
    events = []
    pool = WorkerPool(None, SandboxSettings(), audit=lambda kind, **d: events.append((kind, d)))
    worker = _Worker({**FULL, "landlock": "unavailable"})
    with pytest.raises(SandboxDenied) as info:
        pool._check_layers(worker, _record(), NO_GRANTS)
    assert "landlock" in info.value.data["missing"]
    assert "allow_degraded" in info.value.hint
    assert events[0][0] == "sandbox.denied"
    for task in list(pool._retiring):
        await task
    assert worker.closed


async def test_degraded_mode_runs_and_is_audited():
    events = []
    settings = SandboxSettings(allow_degraded=True)
    pool = WorkerPool(None, settings, audit=lambda kind, **d: events.append((kind, d)))
    pool._check_layers(_Worker({**FULL, "cgroup": "not available"}), _record(), NO_GRANTS)
    assert events == [("sandbox.degraded", {"plugin": "p", "missing": {"cgroup": "not available"}})]


def test_required_layers_can_be_narrowed_and_network_grants_drop_netns():
    pool = WorkerPool(None, SandboxSettings(required_layers=["seccomp"]), audit=lambda *a, **k: 0)
    pool._check_layers(_Worker({"seccomp": True}), _record(), NO_GRANTS)
    granted = EffectiveGrants(NetworkGrant((("h", 1),)), (), ())
    full_pool = WorkerPool(None, SandboxSettings(), audit=lambda *a, **k: 0)
    full_pool._check_layers(_Worker({**FULL, "netns": "not requested"}), _record(), granted)


def test_probe_finds_the_layers_of_this_machine():
    report = probe()
    layers = report.layers()
    assert set(layers) >= {"netns", "mountns", "pidns", "cgroup", "landlock", "seccomp"}
    if report.linux and report.root:
        assert layers["seccomp"][0] and layers["netns"][0]


async def test_doctor_and_health_report_the_sandbox(make_host):
    host = await make_host()
    (section,) = await run_sections(host, ["llf_host._doctor:sandbox_section"])
    assert section.title == "Tool sandbox"
    assert any(row.label == "verdict" for row in section.rows)
    health = sandbox_health(host)
    assert health["mode"] in ("full", "degraded", "refusing")
    assert set(health["layers"]) >= {"landlock", "seccomp"}


async def test_a_failing_doctor_section_does_not_stop_the_others(make_host):
    host = await make_host()
    sections = await run_sections(
        host, ["llf_host._doctor:nope", "llf_host._doctor:sandbox_section"]
    )
    assert sections[0].status == "error" and sections[1].title == "Tool sandbox"


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("module", CHILD_SIDE)
def test_child_side_modules_import_only_the_standard_library(module):
    third_party = _imports(SANDBOX / f"{module}.py") - set(sys.stdlib_module_names)
    assert third_party == set(), f"{module} imports {third_party}"


async def test_the_worker_loads_no_host_or_third_party_modules(tmp_path):
    from llf_host._tools import get_tool_runner
    from llf_host.testing import isolated_host

    plugin = tmp_path / "plugins" / "peek"
    plugin.mkdir(parents=True)
    (plugin / "plugin.toml").write_text('[plugin]\nname = "peek"\n')
    (plugin / "plugin.py").write_text(
        "from llf_host import Tool, hookimpl\nfrom . import tools\n\n"
        "@hookimpl\ndef llf_tools():\n    return [Tool.from_function(tools.modules)]\n"
    )
    (plugin / "tools.py").write_text(
        "import sys\n\ndef modules() -> dict:\n"
        "    return {'modules': sorted(sys.modules), 'path': sys.path}\n"
    )
    async with isolated_host(tmp_path / "home", plugins=[plugin]) as host:
        seen = (await get_tool_runner(host).call("modules", {})).result
    loaded = {name.split(".")[0] for name in seen["modules"]}
    assert not loaded & {"llf_host", "pluggy", "httpx", "msgspec", "jsonschema", "click"}
    assert not any("site-packages" in entry for entry in seen["path"])
