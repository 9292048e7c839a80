"""Every generated kind, loaded into a real `llf-host serve` and used over the protocol."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import socket
from pathlib import Path

import pytest

from llf_host import ProviderUnavailableError
from llf_host import ToolArgumentsInvalid

from .helpers import NAMES
from .helpers import module_of
from .helpers import serve
from .loopback import openai_server


def write_config(home: Path, text: str) -> None:
    (home / "config").mkdir(parents=True, exist_ok=True)
    (home / "config" / "config.toml").write_text(text)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_provider_answers_through_a_loopback_server(tmp_path, dropins):
    name = NAMES["provider"]
    with openai_server("Hello from loopback") as server:
        write_config(
            tmp_path,
            f'[plugins.{name}]\napi_base = "{server.api_base}"\nmodels = ["tiny"]\n',
        )
        async with serve(
            tmp_path, plugins_dirs=(dropins["provider"].parent,), allow=name
        ) as client:
            listed = await client.request("models/list", timeout=30)
            ids = [m["id"] for m in listed["models"]]
            assert f"{name}/tiny" in ids
            result = await asyncio.wait_for(
                client.chat(f"{name}/tiny", [{"role": "user", "content": "hi"}]), 30
            )
            assert result.message.content == "Hello from loopback"
            assert result.usage.completion_tokens == 3
    (sent,) = server.requests
    assert sent["model"] == "tiny" and sent["stream"] is True
    assert sent["messages"] == [{"role": "user", "content": "hi"}]


async def test_provider_with_no_server_says_so(tmp_path, dropins):
    name = NAMES["provider"]
    api_base = f"http://127.0.0.1:{closed_port()}/v1"
    write_config(tmp_path, f'[plugins.{name}]\napi_base = "{api_base}"\nmodels = ["tiny"]\n')
    async with serve(tmp_path, plugins_dirs=(dropins["provider"].parent,), allow=name) as client:
        with pytest.raises(ProviderUnavailableError) as info:
            await asyncio.wait_for(
                client.chat(f"{name}/tiny", [{"role": "user", "content": "hi"}]), 30
            )
    assert api_base in info.value.message and "api_base" in (info.value.hint or "")


async def test_tool_runs_in_the_sandbox_and_the_auditor_records_it(tmp_path, dropins):
    tool, auditor = NAMES["tool"], NAMES["auditor"]
    tool_name = f"{module_of('tool')}_stats"
    async with serve(
        tmp_path, plugins_dirs=(dropins["tool"].parent,), allow=f"{tool},{auditor}"
    ) as client:
        listed = await client.request("tools/list", timeout=30)
        (described,) = [t for t in listed["tools"] if t["name"] == tool_name]
        assert described["plugin"] == tool and described["parameters"]["required"] == ["text"]
        called = await client.request(
            "tools/call", {"name": tool_name, "arguments": {"text": "b a b", "top": 1}}, timeout=60
        )
        assert called["result"] == {"words": 3, "characters": 5, "top": [["b", 2]]}
        with pytest.raises(ToolArgumentsInvalid):
            await client.request("tools/call", {"name": tool_name, "arguments": {}}, timeout=30)
    events = tmp_path / "data" / "plugin-data" / auditor / "events.jsonl"
    kinds = [json.loads(line)["kind"] for line in events.read_text().splitlines()]
    assert "plugin.load" in kinds and "session.start" in kinds
    outcomes = [
        json.loads(line)["data"]["outcome"]
        for line in events.read_text().splitlines()
        if json.loads(line)["kind"] == "tool.call"
    ]
    assert outcomes[0] == "ok" and len(outcomes) == 2


async def test_exporter_writes_a_stored_conversation(tmp_path, dropins):
    exporter = NAMES["exporter"]
    async with serve(
        tmp_path, plugins_dirs=(dropins["exporter"].parent,), allow=f"{exporter},sqlite_memory"
    ) as client:
        formats = await client.request("export/formats", timeout=30)
        assert [f["format"] for f in formats["formats"]] == [module_of("exporter")]
        conv = await client.request("conversations/create", {"title": "Greeting"}, timeout=30)
        for role, text in [("user", 'Say "hi"'), ("assistant", "hi,\nthere")]:
            await client.request(
                "conversations/append",
                {"conversation_id": conv["id"], "message": {"role": role, "content": text}},
                timeout=30,
            )
        out = await client.request(
            "export/conversation",
            {"conversation_id": conv["id"], "format": module_of("exporter")},
            timeout=30,
        )
    assert out["media_type"] == "text/csv" and out["messages"] == 2
    rows = list(csv.reader(io.StringIO(out["content"])))
    assert [r[3:] for r in rows[1:]] == [["user", 'Say "hi"'], ["assistant", "hi,\nthere"]]


async def test_memory_backend_serves_conversations_and_keeps_them(tmp_path, dropins):
    memory = NAMES["memory"]
    write_config(tmp_path, f'[host]\nmemory_backend = "{module_of("memory")}"\n')
    dirs = (dropins["memory"].parent,)
    async with serve(tmp_path, plugins_dirs=dirs, allow=memory) as client:
        conv = await client.request("conversations/create", {"title": "colours"}, timeout=30)
        cid = conv["id"]
        ask = await client.request(
            "conversations/append",
            {"conversation_id": cid, "message": {"role": "user", "content": "Name a colour"}},
            timeout=30,
        )
        red = await client.request(
            "conversations/append",
            {"conversation_id": cid, "message": {"role": "assistant", "content": "red"}},
            timeout=30,
        )
        blue = await client.request(
            "conversations/edit", {"message_id": red["id"], "content": "deep blue"}, timeout=30
        )
        assert blue["parent_id"] == ask["id"]
        branches = await client.request("conversations/branches", {"conversation_id": cid})
        assert [b["id"] for b in branches["branches"]] == [red["id"], blue["id"]]
        assert branches["current_leaf_id"] == blue["id"]
        found = await client.request("conversations/search", {"text": "blue"}, timeout=30)
        assert [h["id"] for h in found["hits"]] == [blue["id"]]
        assert found["hits"][0]["snippet"] == "deep [blue]"
        await client.request(
            "conversations/delete", {"conversation_id": cid, "message_id": red["id"]}
        )
        trash = await client.request("trash/list", timeout=30)
        assert [(i["kind"], i["id"]) for i in trash["items"]] == [("message", red["id"])]
        await client.request("trash/restore", {"kind": "message", "id": red["id"]})
    stored = json.loads((tmp_path / "data" / "plugin-data" / memory / "memory.json").read_text())
    assert set(stored["messages"]) == {ask["id"], red["id"], blue["id"]}
    # A new session reads the same file.
    async with serve(tmp_path, plugins_dirs=dirs, allow=memory) as client:
        listed = await client.request("conversations/list", timeout=30)
        assert [c["title"] for c in listed["conversations"]] == ["colours"]
        history = await client.request("conversations/history", {"conversation_id": cid})
        contents = [m["message"]["content"] for m in history["messages"]]
        assert contents == ["Name a colour", "deep blue"]
