"""tools/* over a real ``llf-host serve`` process, and the CLI commands."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys

import pytest

from llf_host import SandboxDenied
from llf_host import ToolArgumentsInvalid
from llf_host import ToolDenied
from llf_host.client import AsyncClient
from llf_host.testing import home_environ

from .conftest import PLUGINS
from .conftest import processes_with_comm


@pytest.fixture
async def client(tmp_path):
    home = tmp_path / "home"
    (home / "config").mkdir(parents=True)
    shared = tmp_path / "shared"
    shared.mkdir()
    (home / "config" / "config.toml").write_text(
        "[sandbox.tools.guarded]\nconfirm = true\n"
        f"[sandbox.grants.friendly]\nfilesystem = [{{ path = '{shared}', write = true }}]\n"
    )
    env = home_environ(home, {"LLF_HOST_PLUGINS": "friendly,hostile"})
    connection = await AsyncClient.spawn(
        options=["--plugins-dir", str(PLUGINS)], env=env, stderr=subprocess.DEVNULL
    )
    try:
        await asyncio.wait_for(connection.initialize(), 60)
        yield connection
    finally:
        await connection.aclose()


async def test_list_and_call(client):
    listed = await client.request("tools/list", timeout=30)
    names = {t["name"] for t in listed["tools"]}
    assert {"add", "guarded", "benign", "cpu_loop"} <= names
    answer = await client.request("tools/call", {"name": "add", "arguments": {"a": 1, "b": 2}})
    assert answer["result"] == {"sum": 3} and answer["name"] == "add"
    # host/health shows the plugin's worker, idle, with a spare ready for the next call.
    for _ in range(500):
        worker = (await client.request("host/health"))["sandbox"]["workers"]["friendly"]
        if worker["idle_spares"] == 1:
            break
        await asyncio.sleep(0.02)
    assert worker["active_calls"] == 0 and worker["idle_spares"] == 1
    assert worker["pid"] > 0 and worker["layers"]["seccomp"] is True


async def test_failures_are_typed_errors(client):
    with pytest.raises(ToolArgumentsInvalid) as info:
        await client.request("tools/call", {"name": "add", "arguments": {"a": "x", "b": 2}})
    assert info.value.data["path"] == "/a"
    with pytest.raises(SandboxDenied) as denied:
        await client.request(
            "tools/call", {"name": "read_secret", "arguments": {"path": "/etc/hostname"}}
        )
    assert denied.value.data["what"] == "filesystem"


async def test_approval_goes_to_the_client(client):
    seen = []

    def approve(params):
        seen.append(params)
        return {"approved": params["arguments"]["text"] == "yes please"}

    client.on_request("tools/approve", approve)
    answer = await client.request(
        "tools/call", {"name": "guarded", "arguments": {"text": "yes please"}}
    )
    assert answer["result"] == "YES PLEASE"
    assert seen[0]["tool"] == "guarded" and seen[0]["plugin"] == "friendly"
    assert "requestId" in seen[0]
    with pytest.raises(ToolDenied):
        await client.request("tools/call", {"name": "guarded", "arguments": {"text": "no"}})


async def test_a_client_without_approval_support_gets_denied(client):
    with pytest.raises(ToolDenied) as info:
        await client.request("tools/call", {"name": "guarded", "arguments": {"text": "x"}})
    assert "tools/approve" in info.value.hint


async def test_cancel_request_kills_the_call(client, tmp_path, marker):
    shared = tmp_path / "shared"
    task = asyncio.create_task(
        client.request(
            "tools/call",
            {"name": "sleeper", "arguments": {"folder": str(shared), "marker": marker}},
        )
    )
    for _ in range(1000):
        if (shared / "started").exists():
            break
        await asyncio.sleep(0.01)
    assert processes_with_comm(marker)
    task.cancel()  # the client sends $/cancelRequest
    with pytest.raises(asyncio.CancelledError):
        await task
    for _ in range(500):  # the server handles the cancel asynchronously
        if not processes_with_comm(marker):
            break
        await asyncio.sleep(0.01)
    assert processes_with_comm(marker) == []
    answer = await client.request("tools/call", {"name": "benign", "arguments": {"x": 3}})
    assert answer["result"]["x"] == 3


def _cli(tmp_path, *args: str, input_text: str | None = None) -> subprocess.CompletedProcess:
    env = home_environ(tmp_path / "home", {"LLF_HOST_PLUGINS": "friendly"})
    return subprocess.run(
        [sys.executable, "-m", "llf_host._cli", "--plugins-dir", str(PLUGINS), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        input=input_text,
        check=False,
    )


def test_cli_tools_list_and_call(tmp_path):
    listed = _cli(tmp_path, "tools", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    assert "add" in {t["name"] for t in json.loads(listed.stdout)}
    called = _cli(tmp_path, "tools", "call", "add", "--args", '{"a": 20, "b": 22}')
    assert called.returncode == 0, called.stderr
    assert json.loads(called.stdout) == {"sum": 42}
    bad = _cli(tmp_path, "tools", "call", "add", "--args", '{"a": 1}')
    assert bad.returncode == 1 and "'b' is a required property" in bad.stderr


def test_cli_doctor_reports_the_sandbox(tmp_path):
    done = _cli(tmp_path, "doctor", "--json")
    assert done.returncode == 0, done.stderr
    sections = {s["title"]: s for s in json.loads(done.stdout)}
    sandbox = sections["Tool sandbox"]
    labels = {row["label"] for row in sandbox["rows"]}
    assert {"netns", "landlock", "seccomp", "pidns", "verdict"} <= labels
