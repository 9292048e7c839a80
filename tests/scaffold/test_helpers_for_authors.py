"""What plugin authors use besides `llf-host new`: `plugins path` and `testing.call_tool`."""

from __future__ import annotations

import stat

import pytest

from llf_host import ToolDenied
from llf_host._scaffold import generate
from llf_host.testing import call_tool

from .helpers import cli


def test_plugins_path_prints_the_user_plugins_folder_and_creates_it(tmp_path):
    home = tmp_path / "home"
    done = cli("plugins", "path", home=home)
    assert done.returncode == 0, done.stderr
    folder = home / "data" / "plugins"
    assert done.stdout.strip() == str(folder)
    assert folder.is_dir() and stat.S_IMODE(folder.stat().st_mode) == 0o700
    again = cli("plugins", "path", home=home)
    assert again.stdout == done.stdout


async def test_call_tool_denies_confirm_tools_unless_approved(tmp_path, make_host):
    root, _ = generate("tool", "careful", tmp_path)
    manifest = root / "plugin.toml"
    manifest.write_text(manifest.read_text().replace("# confirm = true", "confirm = true"))
    host = await make_host(plugins=[root])
    with pytest.raises(ToolDenied) as info:
        await call_tool(host, "careful_stats", {"text": "x"})
    assert info.value.data["reason"] == "no_approver"
    result = await call_tool(host, "careful_stats", {"text": "x y x"}, approve=True)
    assert result["words"] == 3
