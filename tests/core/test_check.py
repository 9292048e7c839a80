"""`llf-host plugins check` finds deliberate mistakes, each with a fix."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from llf_host._check import check_plugin
from llf_host.testing import home_environ

from .plugin_factory import make_plugin

GOOD_TOOL = """
from llf_host import Tool, hookimpl
from .impl import shout

@hookimpl
def llf_tools():
    return [Tool.from_function(shout)]
"""


async def test_a_good_plugin_passes(tmp_path):
    folder = make_plugin(
        tmp_path,
        "good",
        GOOD_TOOL,
        extra_files={"impl.py": "def shout(text: str) -> str:\n    return text.upper()\n"},
    )
    report = await check_plugin(folder)
    assert report.ok, report.findings
    assert report.contributes == {"tools": ["shout"]}
    assert report.hooks == ["llf_tools"]


@pytest.mark.parametrize(
    ("case", "files", "manifest_extra", "needle"),
    [
        ("no_hooks", {"plugin.py": "x = 1\n"}, "", "implements no hook"),
        (
            "typo_hook",
            {
                "plugin.py": "from llf_host import hookimpl\n@hookimpl\ndef llf_tool():\n    return []\n"
            },
            "",
            "unknown hook",
        ),
        (
            "bad_schema",
            {
                "plugin.py": "from llf_host import Tool, hookimpl\n@hookimpl\ndef llf_tools():\n    return [Tool(name='t', description='', parameters={'type': 'objekt'}, function='impl:t')]\n",
                "impl.py": "def t():\n    pass\n",
            },
            "",
            "not a valid JSON Schema",
        ),
        (
            "network_undeclared",
            {
                "plugin.py": GOOD_TOOL,
                "impl.py": "import urllib.request\ndef shout(text: str) -> str:\n    return urllib.request.urlopen(text).read()\n",
            },
            "",
            "uses the network",
        ),
        (
            "imports_host",
            {
                "plugin.py": GOOD_TOOL,
                "impl.py": "import llf_host\ndef shout(text: str) -> str:\n    return text\n",
            },
            "",
            "which the sandbox cannot import",
        ),
        ("bad_manifest", {"plugin.py": ""}, "[permissions]\nkeys = 'K'\n", "must be a list"),
    ],
)
async def test_deliberate_mistakes_are_found(tmp_path, case, files, manifest_extra, needle):
    folder = make_plugin(
        tmp_path, case, files.pop("plugin.py"), manifest_extra=manifest_extra, extra_files=files
    )
    report = await check_plugin(folder)
    assert not report.ok
    errors = [f for f in report.findings if f.severity == "error"]
    assert any(needle in f.message for f in errors), errors
    assert all(f.fix for f in errors)


async def test_network_use_is_fine_when_declared(tmp_path):
    folder = make_plugin(
        tmp_path,
        "net",
        GOOD_TOOL,
        manifest_extra='[permissions]\nnetwork = ["127.0.0.1:8080"]\n',
        extra_files={
            "impl.py": "import urllib.request\ndef shout(text: str) -> str:\n    return text\n"
        },
    )
    report = await check_plugin(folder)
    assert report.ok, report.findings


def test_cli_exit_codes_and_json(tmp_path):
    bad = make_plugin(tmp_path, "bad", "raise RuntimeError('at import')\n")
    out = subprocess.run(
        [sys.executable, "-m", "llf_host._cli", "plugins", "check", str(bad), "--json"],
        env=home_environ(tmp_path / "home"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 1
    report = json.loads(out.stdout)
    assert report["findings"][0]["severity"] == "error"
    assert "at import" in report["findings"][0]["message"]
