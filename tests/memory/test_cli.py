"""``llf-host conversations`` and ``llf-host trash``, run like a user runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from click.testing import Result

from llf_host._cli import cli
from llf_host.testing import home_environ

OLD = [
    {"role": "user", "content": "How do I rotate nginx logs?", "timestamp": 1_700_000_000},
    {
        "role": "assistant",
        "content": "Use logrotate with a daily rule.",
        "timestamp": 1_700_000_060,
    },
    {"role": "user", "content": "And compress them?", "timestamp": 1_700_000_120},
    {"role": "assistant", "content": "Add the compress option.", "timestamp": 1_700_000_180},
]


@pytest.fixture
def run(llf_home: Path) -> object:
    runner = CliRunner()
    env = {"LLF_HOST_HOME": str(llf_home), "LLF_HOST_PLUGINS": "sqlite_memory"}

    def invoke(*args: str, ok: bool = True, stdin: str | None = None) -> Result:
        result = runner.invoke(cli, list(args), env=env, input=stdin, catch_exceptions=False)
        if ok:
            assert result.exit_code == 0, result.output
        return result

    return invoke


def imported(run, tmp_path: Path) -> dict[str, object]:  # type: ignore[no-untyped-def]
    path = tmp_path / "nginx.json"
    path.write_text(json.dumps(OLD))
    (conv,) = json.loads(run("conversations", "import", str(path), "--json").output)
    return conv


def test_import_list_show(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "nginx.json"
    path.write_text(json.dumps(OLD))
    out = run("conversations", "import", str(path)).output
    assert "imported 1 conversation(s)" in out and "nginx" in out
    listed = json.loads(run("conversations", "list", "--json").output)
    assert [c["title"] for c in listed] == ["nginx"] and listed[0]["message_count"] == 4
    conv_id = listed[0]["id"]
    assert conv_id in run("conversations", "list").output
    shown = run("conversations", "show", conv_id).output
    assert "rotate nginx logs" in shown and "compress option" in shown
    data = json.loads(run("conversations", "show", conv_id, "--json").output)
    assert [m["message"]["role"] for m in data["messages"]] == [
        "user",
        "assistant",
        "user",
        "assistant",
    ]


def test_search_with_filters(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    conv = imported(run, tmp_path)
    out = run("conversations", "search", "logrotate").output
    assert "[logrotate]" in out and conv["id"] in out
    hits = json.loads(run("conversations", "search", "compress*", "--json").output)
    assert {h["role"] for h in hits} == {"user", "assistant"}
    hits = json.loads(
        run("conversations", "search", "compress*", "--role", "user", "--json").output
    )
    assert [h["role"] for h in hits] == ["user"]
    assert "no matches" in run("conversations", "search", "nginx", "--since", "1d").output
    hits = json.loads(
        run("conversations", "search", "nginx", "--since", "2023-11-01", "--json").output
    )
    assert len(hits) == 1
    bad = run("conversations", "search", "x", "--since", "soon", ok=False)
    assert bad.exit_code == 2 and "is not a time" in bad.output
    assert run("conversations", "search", "!!!", ok=False).exit_code == 2


def test_branches_delete_restore_and_trash(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    conv = imported(run, tmp_path)
    cid = str(conv["id"])
    messages = json.loads(run("conversations", "show", cid, "--json").output)["messages"]
    (only,) = json.loads(run("conversations", "branch", cid, "--json").output)["branches"]
    assert only["id"] == messages[-1]["id"]
    out = run("conversations", "branch", cid, messages[1]["id"]).output
    assert f"switched to {messages[1]['id']}" in out and "inside a branch" in out
    out = run("conversations", "delete", cid, "--message", messages[2]["id"]).output
    assert "moved message" in out
    trash = json.loads(run("trash", "list", "--json").output)
    assert [(i["kind"], i["count"]) for i in trash["items"]] == [("message", 2)]
    assert trash["retention_days"] == 30
    assert "(2 messages)" in run("trash", "list").output
    run("trash", "restore", messages[2]["id"])
    assert run("trash", "list").output.startswith("the trash is empty")
    run("conversations", "delete", cid)
    assert run("conversations", "list").output.strip() == "no conversations"
    run("conversations", "restore", cid)
    run("conversations", "delete", cid)
    aborted = run("trash", "empty", stdin="n\n", ok=False)
    assert aborted.exit_code == 1
    assert "purged 1 item(s)" in run("trash", "empty", "--yes").output
    missing = run("conversations", "restore", cid, ok=False)
    assert missing.exit_code == 1 and "no conversation" in missing.output
    assert "fix:" in missing.output


def test_errors_are_one_line_with_a_fix(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    result = run("conversations", "show", "nope", ok=False)
    assert result.exit_code == 1
    assert "error: no conversation 'nope'" in result.output and "fix:" in result.output
    bad = tmp_path / "bad.json"
    bad.write_text('[{"role": "wizard"}]')
    result = run("conversations", "import", str(bad), ok=False)
    assert result.exit_code == 1 and "message 1: role 'wizard'" in result.output
    result = run("trash", "restore", "nothing", ok=False)
    assert "nothing with id 'nothing' in the trash" in result.output


def test_the_console_script_runs(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    path = tmp_path / "chat.jsonl"
    path.write_text("\n".join(json.dumps(m) for m in OLD))
    env = home_environ(home, {"LLF_HOST_PLUGINS": "sqlite_memory"})
    exe = Path(sys.executable).with_name("llf-host")
    command = [str(exe)] if exe.exists() else [sys.executable, "-m", "llf_host._cli"]
    done = subprocess.run(
        [*command, "conversations", "import", str(path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    db = home / "data" / "plugin-data" / "sqlite_memory" / "memory.db"
    assert os.stat(db).st_mode & 0o777 == 0o600
