"""The wheel ships every subpackage, the built-in plugins and the data files."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def wheel_files(tmp_path_factory) -> set[str]:
    out = tmp_path_factory.mktemp("wheel")
    try:
        import wheel  # noqa: F401  (setuptools needs it for --no-build-isolation)
    except ImportError:
        pytest.skip("the `wheel` package is needed to build without isolation")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(out),
            str(ROOT),
        ],
        check=True,
        timeout=300,
        capture_output=True,
    )
    (whl,) = out.glob("llf_host-*.whl")
    with zipfile.ZipFile(whl) as archive:
        return set(archive.namelist())


def test_every_python_module_of_the_source_tree_is_in_the_wheel(wheel_files):
    for package_root, prefix in ((ROOT / "host", ""), (ROOT / "sandbox", "")):
        for source in package_root.rglob("*.py"):
            rel = prefix + source.relative_to(package_root).as_posix()
            if "__pycache__" in rel:
                continue
            assert rel in wheel_files, f"{rel} is missing from the wheel"


def test_builtin_plugins_and_data_files_are_shipped(wheel_files):
    for source in (ROOT / "plugins").rglob("*"):
        if (
            source.is_file()
            and source.suffix in {".py", ".toml", ".json"}
            and "__pycache__" not in source.parts
        ):
            rel = "llf_host/builtin_plugins/" + source.relative_to(ROOT / "plugins").as_posix()
            assert rel in wheel_files, f"{rel} is missing from the wheel"
    templates = [n for n in wheel_files if n.startswith("llf_host/_scaffold/templates/")]
    assert any(n.endswith("tool/tools.py.tmpl") for n in templates)
    assert "llf_host/_routing/prices.toml" in wheel_files
    assert "llf_host/py.typed" in wheel_files and "llf_sandbox/py.typed" in wheel_files
