"""Start-up imports nothing heavy: big libraries load on first use, never at start.

Each check runs in a fresh interpreter (``sys.modules`` of the test process is
full of everything the other tests imported), starts a host with every built-in
plugin the way ``llf-host`` does, and lists which heavy modules got imported.
This is a behavioural check, not a timing one: ``benchmarks/cold_start.py``
measures the time.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from llf_host.testing import home_environ

PLUGINS_DIR = Path(__file__).resolve().parents[2] / "plugins"

#: Libraries a host must not import until a feature needs them.
HEAVY_MODULES = (
    "httpx",  # HTTP engines: on the first request (its __init__ pulls rich and click)
    "aiosqlite",  # memory: when the database opens
    "cryptography",  # key store: when it is unlocked
    "filelock",  # key store: when it is written
    "llama_cpp",  # local models: when one loads
    "mlx",
    "numpy",
    "jsonschema",  # tool arguments and plugin config schemas: when validated
    "rich",  # CLI progress bars only
    "pygments",  # HTML export highlighting: on export
    "fpdf",  # PDF export: on export
)

PROBE = """
import asyncio, json, sys
from llf_host import Host

async def main():
    host = Host(entry_points=False)
    await host.start()
    states = {name: record.status for name, record in host.plugins.items()}
    await host.aclose()
    return states

states = asyncio.run(main())
heavy = json.loads(sys.argv[1])
loaded = sorted(
    name for name in sys.modules
    if any(name == h or name.startswith(h + ".") for h in heavy)
)
print(json.dumps({"plugins": states, "loaded": loaded}))
"""


def builtin_plugin_names() -> set[str]:
    """The built-in plugins in the source tree (folders with a plugin.toml)."""
    return {p.parent.name for p in PLUGINS_DIR.glob("*/plugin.toml")}


def start_host_in_fresh_interpreter(home: Path) -> dict[str, object]:
    result = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(HEAVY_MODULES)],
        env=home_environ(home),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    report: dict[str, object] = json.loads(result.stdout.strip().splitlines()[-1])
    return report


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    return start_host_in_fresh_interpreter(tmp_path_factory.mktemp("home"))


def test_every_builtin_plugin_loads(report: dict[str, object]) -> None:
    plugins = report["plugins"]
    assert isinstance(plugins, dict)
    assert builtin_plugin_names() <= set(plugins)
    assert {name: state for name, state in plugins.items() if state != "ok"} == {}


def test_starting_a_host_imports_no_heavy_library(report: dict[str, object]) -> None:
    # If this fails, find who imports the module with
    #   LLF_HOST_HOME=$(mktemp -d) python -X importtime -c "import asyncio;
    #   from llf_host import Host; asyncio.run(Host(entry_points=False).start())"
    # and move the import into the function that needs it (TYPE_CHECKING for annotations).
    assert report["loaded"] == []


def test_the_check_sees_a_heavy_import(tmp_path: Path) -> None:
    """The probe is not blind: a plugin that imports httpx at load is reported."""
    plugin = tmp_path / "home" / "data" / "plugins" / "eager_http"  # the user plugins folder
    plugin.mkdir(parents=True)
    (plugin / "plugin.toml").write_text(
        '[plugin]\nname = "eager_http"\nversion = "0.1"\nentry = "plugin"\n'
    )
    (plugin / "plugin.py").write_text("import httpx  # at load: what the budget forbids\n")
    report = start_host_in_fresh_interpreter(tmp_path / "home")
    plugins = report["plugins"]
    assert isinstance(plugins, dict) and plugins.get("eager_http") == "ok"
    assert "httpx" in report["loaded"]  # type: ignore[operator]


def _configure(home: Path, text: str) -> None:
    config = home / "config" / "config.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(text)


def test_a_config_section_is_validated_once_then_start_skips_jsonschema(tmp_path: Path) -> None:
    home = tmp_path / "home"
    _configure(home, "[plugins.audit_log]\nbatch_size = 8\n")

    first = start_host_in_fresh_interpreter(home)
    second = start_host_in_fresh_interpreter(home)

    assert first["plugins"]["audit_log"] == "ok"  # type: ignore[index]
    assert "jsonschema" in first["loaded"]  # type: ignore[operator]
    assert second["plugins"]["audit_log"] == "ok"  # type: ignore[index]
    assert second["loaded"] == []
    # A changed section is validated again.
    _configure(home, "[plugins.audit_log]\nbatch_size = 9\n")
    assert "jsonschema" in start_host_in_fresh_interpreter(home)["loaded"]  # type: ignore[operator]


def test_an_invalid_config_section_fails_on_every_start(tmp_path: Path) -> None:
    home = tmp_path / "home"
    _configure(home, '[plugins.audit_log]\nbatch_size = "many"\n')

    for _ in range(2):
        report = start_host_in_fresh_interpreter(home)
        assert report["plugins"]["audit_log"] == "failed"  # type: ignore[index]
        assert "jsonschema" in report["loaded"]  # type: ignore[operator]
