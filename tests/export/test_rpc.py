"""``export/*`` over the protocol: a real ``llf-host serve`` process and the client."""

from __future__ import annotations

import asyncio
import base64
import json
import stat
import subprocess

import pytest

from llf_host import ConversationNotFoundError
from llf_host import MemoryStoreError
from llf_host import NotAvailableError
from llf_host.client import AsyncClient
from llf_host.client import InvalidParamsError
from llf_host.testing import home_environ

from .helpers import export_sync
from .helpers import load_exporters
from .helpers import sample


@pytest.fixture
async def client(tmp_path):
    env = home_environ(tmp_path, {"LLF_HOST_PLUGINS": "exporters,sqlite_memory"})
    connection = await AsyncClient.spawn(env=env, stderr=subprocess.DEVNULL)
    try:
        await asyncio.wait_for(connection.initialize(), 60)
        yield connection
    finally:
        await connection.aclose()


@pytest.fixture(scope="module")
def sample_json() -> str:
    return export_sync(load_exporters()["json"], [sample()]).decode()


async def test_import_then_export_every_format(client, tmp_path, sample_json):
    formats = (await client.request("export/formats", timeout=30))["formats"]
    names = {f["format"] for f in formats}
    assert {"md", "json", "html", "txt"} <= names

    imported = await client.request("export/import", {"content": sample_json}, timeout=30)
    assert imported["messages"] == 6
    (conversation,) = imported["conversations"]
    assert conversation["source_id"] == "c1"

    md = await client.request(
        "export/conversation",
        {"conversation_id": conversation["id"], "format": "md", "options": {"branch": "all"}},
        timeout=30,
    )
    assert md["encoding"] == "utf-8" and md["conversations"] == 1 and md["messages"] == 6
    assert md["content"].startswith("# Weather & \\<friends>")

    if "pdf" in names:
        pdf = await client.request(
            "export/conversation", {"all": True, "format": "pdf"}, timeout=60
        )
        assert pdf["encoding"] == "base64"
        assert base64.b64decode(pdf["content"]).startswith(b"%PDF-")

    target = tmp_path / "out" / "all.json"
    written = await client.request(
        "export/conversation", {"all": True, "format": "json", "path": str(target)}, timeout=30
    )
    assert written["path"] == str(target) and "content" not in written
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    again = await client.request("export/import", {"path": str(target)}, timeout=30)
    assert again["conversations"][0]["source_id"] == conversation["id"]
    found = await client.request(
        "export/conversation", {"search": "Paris", "format": "json"}, timeout=30
    )
    assert len(json.loads(found["content"])["conversations"]) == 2


async def test_bad_requests_get_clear_errors(client):
    with pytest.raises(InvalidParamsError) as info:
        await client.request(
            "export/conversation", {"all": True, "conversation_id": "x"}, timeout=30
        )
    assert info.value.data["field"] == "conversation_id"
    with pytest.raises(InvalidParamsError) as info:
        await client.request(
            "export/conversation", {"all": True, "path": "relative.md"}, timeout=30
        )
    assert info.value.data["field"] == "path"
    with pytest.raises(NotAvailableError):
        await client.request("export/conversation", {"all": True, "format": "docx"}, timeout=30)
    with pytest.raises(ConversationNotFoundError):
        await client.request("export/conversation", {"conversation_id": "nope"}, timeout=30)
    with pytest.raises(InvalidParamsError):
        await client.request("export/import", {}, timeout=30)
    with pytest.raises(InvalidParamsError):
        await client.request("export/import", {"content": "%%%", "encoding": "base64"}, timeout=30)
    with pytest.raises(MemoryStoreError) as info:
        await client.request("export/import", {"content": '{"format": "other"}'}, timeout=30)
    assert info.value.data["field"] == "format"
    # the server is still serving after every one of them
    assert (await client.request("export/formats", timeout=30))["formats"]


async def test_import_reads_the_simple_formats_too(client, tmp_path):
    # The same shapes `llf-host conversations import` reads: an array of messages
    # as content, and JSON Lines from a file.
    simple = [
        {"role": "user", "content": "Is Lyon far?", "timestamp": 1_700_000_000},
        {"role": "assistant", "content": "About two hours by train.", "timestamp": 1_700_000_005},
    ]
    from_content = await client.request(
        "export/import", {"content": json.dumps(simple)}, timeout=30
    )
    lines = tmp_path / "old.jsonl"
    lines.write_text("\n".join(json.dumps(m) for m in simple) + "\n")
    from_file = await client.request("export/import", {"path": str(lines)}, timeout=30)

    assert from_content["messages"] == 2 and from_file["messages"] == 2
    stored = from_file["conversations"][0]
    assert stored["title"] == "old"
    history = await client.request(
        "conversations/history", {"conversation_id": stored["id"]}, timeout=30
    )
    assert [m["message"]["content"] for m in history["messages"]] == [m["content"] for m in simple]
