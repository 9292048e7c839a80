"""``llf-host export`` as a user runs it: real processes, a real SQLite store."""

from __future__ import annotations

import json
import stat
import subprocess
import sys

import pytest

from llf_host.testing import home_environ

from .helpers import export_sync
from .helpers import load_exporters
from .helpers import sample


def llf(home, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = home_environ(home, {"LLF_HOST_PLUGINS": "exporters,sqlite_memory"})
    done = subprocess.run(
        [sys.executable, "-m", "llf_host._cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if check:
        assert done.returncode == 0, done.stderr
    return done


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """A home whose SQLite store holds the sample conversation (imported by the CLI)."""
    home = tmp_path_factory.mktemp("home")
    source = home / "sample.json"
    source.write_bytes(export_sync(load_exporters()["json"], [sample()]))
    done = llf(home, "export", "import", str(source), "--json")
    (imported,) = json.loads(done.stdout)["conversations"]
    assert imported["source_id"] == "c1" and imported["messages"] == 6
    return home, imported["id"]


def test_export_one_conversation_to_a_file(store, tmp_path):
    home, conversation_id = store
    target = tmp_path / "chat.html"
    done = llf(home, "export", conversation_id, "-o", str(target))
    assert "exported 1 conversation(s), 6 messages" in done.stderr
    assert target.read_text().startswith("<!DOCTYPE html>")  # format from the extension
    assert stat.S_IMODE(target.stat().st_mode) == 0o600


def test_export_all_and_search_to_stdout(store):
    home, _ = store
    markdown = llf(home, "export", "--all", "--format", "md", "--branch", "all").stdout
    assert markdown.startswith("# Weather & \\<friends>")
    assert "another branch" in markdown
    text = llf(home, "export", "--search", "Paris", "-f", "txt", "--no-system").stdout
    assert "It is 21 °C in Paris" in text and "You are terse" not in text


def test_usage_errors_say_what_to_do(store):
    home, _ = store
    nothing = llf(home, "export", check=False)
    assert (
        nothing.returncode == 2
        and "exactly one of CONV_ID, --search QUERY or --all" in nothing.stderr
    )
    missing = llf(home, "export", "no-such-id", check=False)
    assert missing.returncode == 1 and "no-such-id" in missing.stderr and "fix:" in missing.stderr
    unknown = llf(home, "export", "--all", "-f", "docx", check=False)
    assert unknown.returncode == 1 and "available formats" in unknown.stderr
    bad_option = llf(home, "export", "--all", "--option", "colour=red", check=False)
    assert bad_option.returncode == 1 and "colour" in bad_option.stderr


def test_formats_and_import_errors(store, tmp_path):
    home, _ = store
    formats = json.loads(llf(home, "export", "formats", "--json").stdout)["formats"]
    assert {"md", "json", "html", "txt"} <= {f["format"] for f in formats}
    broken = tmp_path / "broken.json"
    broken.write_text('{"format": "llf-host-export", "version": 9, "conversations": []}')
    done = llf(home, "export", "import", str(broken), check=False)
    assert done.returncode == 1 and "version" in done.stderr


def test_json_export_reimports_through_the_cli(store, tmp_path):
    home, _ = store
    backup = tmp_path / "backup.json"
    llf(home, "export", "--all", "-o", str(backup))
    before = json.loads(backup.read_text())
    assert before["format"] == "llf-host-export" and before["version"] == 1
    done = llf(home, "export", "import", str(backup))
    assert "1 conversation(s), 6 messages" in done.stderr
    after = json.loads(llf(home, "export", "--all", "--format", "json").stdout)
    assert len(after["conversations"]) == len(before["conversations"]) + 1
