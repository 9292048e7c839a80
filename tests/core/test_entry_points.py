"""pip-installed plugins: a real distribution layout found through importlib.metadata."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from llf_host.testing import home_environ
from llf_host.testing import isolated_host


def install_fake_distribution(site: Path, *, with_manifest: bool) -> None:
    """Lay out what `pip install` leaves behind: a package plus its .dist-info."""
    pkg = site / "llf_weather"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text(
        textwrap.dedent(
            """
            from llf_host import hookimpl
            from llf_host.testing import MockProvider

            @hookimpl
            def llf_providers(context):
                return MockProvider("weather")
            """
        )
    )
    if with_manifest:
        (pkg / "plugin.toml").write_text(
            '[plugin]\nname = "weather"\nversion = "2.0"\n'
            'entry = "__init__"\n[permissions]\nkeys = ["WEATHER_KEY"]\n'
        )
    dist = site / "llf_weather-2.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: llf-weather\nVersion: 2.0\nSummary: Weather models\n"
    )
    (dist / "entry_points.txt").write_text("[llf_host.plugins]\nweather = llf_weather\n")
    (dist / "RECORD").write_text("")


async def test_entry_point_plugin_loads_with_distribution_metadata(tmp_path, monkeypatch):
    site = tmp_path / "site"
    install_fake_distribution(site, with_manifest=False)
    monkeypatch.syspath_prepend(str(site))
    async with isolated_host(tmp_path / "home", entry_points=True) as host:
        record = host.plugins["weather"]
        assert record.status == "ok", record.error
        assert record.source == "entrypoint"
        assert (record.version, record.description) == ("2.0", "Weather models")
        assert "weather" in host.registry.providers
    sys.modules.pop("llf_weather", None)


async def test_entry_point_plugin_reads_its_packaged_manifest(tmp_path, monkeypatch):
    site = tmp_path / "site"
    install_fake_distribution(site, with_manifest=True)
    monkeypatch.syspath_prepend(str(site))
    async with isolated_host(tmp_path / "home", entry_points=True) as host:
        record = host.plugins["weather"]
        assert record.status == "ok", record.error
        assert record.manifest is not None
        assert record.manifest.permissions.keys == ("WEATHER_KEY",)
    sys.modules.pop("llf_weather", None)


def test_cli_lists_entry_point_and_drop_in_plugins(tmp_path):
    site = tmp_path / "site"
    install_fake_distribution(site, with_manifest=False)
    home = tmp_path / "home"
    user_plugins = home / "data" / "plugins"
    (user_plugins / "mine").mkdir(parents=True)
    (user_plugins / "mine" / "plugin.toml").write_text('[plugin]\nname = "mine"\nversion = "0.1"\n')
    (user_plugins / "mine" / "plugin.py").write_text("")
    (user_plugins / "broken.py").write_text("def (:\n")
    env = home_environ(
        home, {"PYTHONPATH": str(site) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    )
    out = subprocess.run(
        [sys.executable, "-m", "llf_host._cli", "plugins", "list", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    listed = {p["name"]: p for p in json.loads(out.stdout)}
    assert listed["weather"]["source"] == "entrypoint"
    assert listed["mine"]["status"] == "ok" and listed["mine"]["source"] == "user"
    assert listed["broken"]["status"] == "failed"
    assert "SyntaxError" in listed["broken"]["error"]["message"]
