"""`--package` plugins: installed with pip, found through their entry point by serve."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import pytest

from .helpers import KINDS
from .helpers import NAMES
from .helpers import clean_env
from .helpers import module_of
from .helpers import serve


def can_build_wheels() -> bool:
    """Whether setuptools can build a wheel offline (bdist_wheel: built in since 70.1)."""
    import setuptools

    major, minor = (int(p) for p in setuptools.__version__.split(".")[:2])
    return (major, minor) >= (70, 1) or importlib.util.find_spec("wheel") is not None


@pytest.fixture(scope="module")
def site(packages, tmp_path_factory):
    """Every generated distribution installed (pip, no dependencies) into one folder."""
    if not can_build_wheels():
        pytest.skip("building without isolation needs `wheel` or setuptools>=70.1 here")
    target = tmp_path_factory.mktemp("site")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "--target",
            str(target),
            *(str(packages[k]) for k in KINDS),
        ],
        env=clean_env({"PIP_DISABLE_PIP_VERSION_CHECK": "1"}),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return target


def test_the_layout_is_a_distribution_with_an_entry_point(packages):
    root = packages["tool"]
    pyproject = (root / "pyproject.toml").read_text()
    assert '[project.entry-points."llf_host.plugins"]' in pyproject
    assert f'{NAMES["tool"]} = "llf_{module_of("tool")}.plugin"' in pyproject
    assert (root / "src" / f"llf_{module_of('tool')}" / "plugin.toml").is_file()


async def test_installed_packages_load_as_entry_point_plugins(site, tmp_path):
    names = [NAMES[k] for k in KINDS]
    async with serve(
        tmp_path, allow=",".join(names), extra_env={"PYTHONPATH": str(site)}
    ) as client:
        listed = await client.request("plugins/list", timeout=30)
        found = {p["name"]: p for p in listed["plugins"]}
        for name in names:
            assert found[name]["source"] == "entrypoint", found[name]
            assert found[name]["status"] == "ok", found[name]
            assert found[name]["version"] == "0.1.0"
        formats = await client.request("export/formats", timeout=30)
        assert [f["format"] for f in formats["formats"]] == [module_of("exporter")]
        tools = await client.request("tools/list", timeout=30)
        assert [t["name"] for t in tools["tools"]] == [f"{module_of('tool')}_stats"]


async def test_installed_tool_runs_in_the_sandbox(site, tmp_path):
    async with serve(tmp_path, allow=NAMES["tool"], extra_env={"PYTHONPATH": str(site)}) as client:
        called = await client.request(
            "tools/call",
            {"name": f"{module_of('tool')}_stats", "arguments": {"text": "x y x"}},
            timeout=60,
        )
        assert called["result"]["top"][0] == ["x", 2]
