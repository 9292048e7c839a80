"""Events other features emit, seen in the audit log: key store access and tool calls.

Each comes from the real operation (the ``keys`` command, the tool runner and
its sandbox), never from calling an auditor.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from llf_host import ToolArgumentsInvalid
from llf_host import ToolDenied
from llf_host._audit_log import verify_log
from llf_host._tools._approval import ApprovalAnswer
from llf_host._tools._approval import ApprovalRequest
from llf_host._tools._runner import get_tool_runner
from llf_host.testing import home_environ
from llf_host.testing import isolated_host

from .helpers import AUDIT_LOG
from .helpers import log_file
from .helpers import records

SECRET = "sk-audit-test-5f4e3d2c1b0a"
PASSPHRASE = "correct horse battery staple"


def keys(home: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = home_environ(home, {"LLF_HOST_PASSPHRASE": PASSPHRASE, "LLF_HOST_PLUGINS": "audit_log"})
    return subprocess.run(
        [sys.executable, "-m", "llf_host._cli", "keys", *args],
        input=stdin,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )


def test_key_store_access_is_audited_by_name_only(tmp_path):
    keys(tmp_path, "set", "OPENAI_API_KEY", stdin=SECRET)
    keys(tmp_path, "rm", "OPENAI_API_KEY")
    log = log_file(tmp_path)
    by_kind = {r["kind"]: r for r in records(log)}
    assert by_kind["key.write"]["data"]["name"] == "OPENAI_API_KEY"
    assert by_kind["key.delete"]["data"]["name"] == "OPENAI_API_KEY"
    assert verify_log(log).ok
    for path in log.parent.iterdir():
        assert SECRET not in path.read_text(errors="replace")


TOOLS = """
from llf_host import Tool, hookimpl

from . import functions


@hookimpl
def llf_tools():
    return [
        Tool.from_function(functions.add),
        Tool.from_function(functions.wipe, confirm=True),
    ]
"""

FUNCTIONS = '''
def add(a: int, b: int) -> int:
    """Add two numbers."""
    return a + b


def wipe(path: str) -> str:
    """Pretend to delete a path (needs approval)."""
    return path
'''


async def test_tool_calls_and_denials_are_audited(tmp_path):
    plugin = tmp_path / "plugins" / "calc"
    plugin.mkdir(parents=True)
    (plugin / "plugin.toml").write_text('[plugin]\nname = "calc"\n')
    (plugin / "plugin.py").write_text(textwrap.dedent(TOOLS))
    (plugin / "functions.py").write_text(textwrap.dedent(FUNCTIONS))
    async with isolated_host(tmp_path / "home", plugins=[AUDIT_LOG, plugin]) as host:
        runner = get_tool_runner(host)
        result = await runner.call("add", {"a": 2, "b": 3})
        assert result.result == 5
        with pytest.raises(ToolArgumentsInvalid):
            await runner.call("add", {"a": "two", "b": 3})
        with pytest.raises(ToolDenied):
            await runner.call("wipe", {"path": "/tmp/x"})

        async def approve(request: ApprovalRequest) -> ApprovalAnswer:
            return ApprovalAnswer(approved=True)

        approved = await runner.call("wipe", {"path": "/tmp/y"}, approver=approve)
        assert approved.result == "/tmp/y"
    log = log_file(tmp_path / "home")
    assert verify_log(log).ok
    calls = [r for r in records(log) if r["kind"] == "tool.call"]
    assert [c["data"]["outcome"] for c in calls][:2] == ["ok", "tool_arguments_invalid"]
    assert calls[0]["plugin"] == "calc" and calls[0]["data"]["tool"] == "add"
    assert "arguments_sha256" in calls[0]["data"] and "arguments" not in calls[0]["data"]
    denied = [r for r in records(log) if r["kind"] == "tool.denied"]
    assert denied and denied[0]["data"]["tool"] == "wipe"
    asked = [r for r in records(log) if r["kind"] == "tool.approval_requested"]
    answered = [r for r in records(log) if r["kind"] == "tool.approval_answered"]
    assert asked[-1]["data"]["tool"] == "wipe" and answered[-1]["data"]["approved"] is True


READER = """
from llf_host import hookimpl


@hookimpl
def llf_startup(context):
    context.key("OPENAI_API_KEY")
"""


async def test_a_plugin_reading_its_key_is_audited(tmp_path):
    home = tmp_path / "home"
    keys(home, "set", "OPENAI_API_KEY", stdin=SECRET)
    plugin = tmp_path / "plugins" / "reader"
    plugin.mkdir(parents=True)
    (plugin / "plugin.toml").write_text(
        '[plugin]\nname = "reader"\n[permissions]\nkeys = ["OPENAI_API_KEY"]\n'
    )
    (plugin / "plugin.py").write_text(READER)
    environ = {"LLF_HOST_PASSPHRASE": PASSPHRASE}
    async with isolated_host(home, plugins=[AUDIT_LOG, plugin], environ=environ) as host:
        assert not host.plugins["reader"].warnings, host.plugins["reader"].warnings
    log = log_file(home)
    reads = [r for r in records(log) if r["kind"] == "key.read"]
    assert reads and reads[-1]["plugin"] == "reader"
    assert reads[-1]["data"]["name"] == "OPENAI_API_KEY"
    assert SECRET not in log.read_text()
    assert verify_log(log).ok
