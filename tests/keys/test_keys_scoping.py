"""A provider gets exactly the keys its manifest names; every access is audited."""

from __future__ import annotations

import hashlib
import json

import pytest

from llf_host import ChatRequest
from llf_host import KeyStoreLocked
from llf_host import Message
from llf_host import PluginError
from llf_host._chat import stream_chat
from llf_host._keys import KeyStore
from llf_host.testing import isolated_host

from .helpers import FAST_CONFIG
from .helpers import PASSPHRASE
from .helpers import fast_store
from .helpers import write_plugin

KEYED_PROVIDER = """
import hashlib
from llf_host import hookimpl
from llf_host.testing import MockProvider

class KeyedProvider(MockProvider):
    def __init__(self, context):
        def reply(request):
            key = context.key("PROVIDER_A")
            return "sha256 " + hashlib.sha256(key.encode()).hexdigest()
        super().__init__("keyed", reply=reply)
        self.context = context

@hookimpl
def llf_providers(context):
    return KeyedProvider(context)
"""

JSONL_AUDITOR = """
import json
from llf_host import hookimpl

@hookimpl
def llf_audit(event, context):
    context.data_dir.mkdir(parents=True, exist_ok=True)
    with open(context.data_dir / "events.jsonl", "a") as out:
        out.write(json.dumps({"kind": event.kind, "plugin": event.plugin, "data": event.data}))
        out.write("\\n")
"""

VALUES = {"PROVIDER_A": "value-of-a-5f1e2d3c", "PROVIDER_B": "value-of-b-9a8b7c6d"}


def plugins(root):
    return [
        write_plugin(root, "keyed", KEYED_PROVIDER, '[permissions]\nkeys = ["PROVIDER_A"]\n'),
        write_plugin(root, "recorder", JSONL_AUDITOR),
    ]


def read_events(home):
    path = home / "data" / "plugin-data" / "recorder" / "events.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()]


async def test_provider_gets_its_key_and_is_refused_others(tmp_path):
    home = tmp_path / "home"
    fast_store(home / "data" / "keys.enc").set_many(VALUES)
    env = {"LLF_HOST_PASSPHRASE": PASSPHRASE}
    async with isolated_host(
        home, plugins=plugins(tmp_path), config=FAST_CONFIG, environ=env
    ) as host:
        assert isinstance(host.keys, KeyStore) and host.keys.unlocked
        result = await stream_chat(
            host.registry,
            ChatRequest(model="keyed/echo", messages=[Message(role="user", content="hi")]),
        )
        digest = hashlib.sha256(VALUES["PROVIDER_A"].encode()).hexdigest()
        assert result.message.content == f"sha256 {digest}"

        context = host.plugins["keyed"].context
        assert context is not None
        with pytest.raises(PluginError, match="does not name") as refused:
            context.key("PROVIDER_B")
        assert refused.value.data["key"] == "PROVIDER_B"
        assert "permissions.keys" in refused.value.hint
        # the auditor plugin names no key at all
        recorder = host.plugins["recorder"].context
        assert recorder is not None
        with pytest.raises(PluginError):
            recorder.key("PROVIDER_A")

    events = read_events(home)
    reads = [e for e in events if e["kind"] == "key.read"]
    assert reads == [
        {"kind": "key.read", "plugin": "keyed", "data": {"name": "PROVIDER_A", "outcome": "ok"}}
    ]
    raw = (home / "data" / "plugin-data" / "recorder" / "events.jsonl").read_text()
    assert VALUES["PROVIDER_A"] not in raw and VALUES["PROVIDER_B"] not in raw


async def test_without_a_passphrase_the_host_starts_and_key_users_get_locked(tmp_path):
    home = tmp_path / "home"
    fast_store(home / "data" / "keys.enc").set_many(VALUES)
    async with isolated_host(home, plugins=plugins(tmp_path), config=FAST_CONFIG) as host:
        assert host.plugins["keyed"].status == "ok"
        with pytest.raises(KeyStoreLocked) as info:
            await stream_chat(
                host.registry,
                ChatRequest(model="keyed/echo", messages=[Message(role="user", content="hi")]),
            )
        assert info.value.hint == "set LLF_HOST_PASSPHRASE or run `llf-host keys unlock`"
        assert "locked" in info.value.message
        assert info.value.data["plugin"] == "keyed"
    events = read_events(home)
    assert {
        "kind": "key.read",
        "plugin": "keyed",
        "data": {"name": "PROVIDER_A", "outcome": "locked"},
    } in events


async def test_a_wrong_passphrase_leaves_the_host_running_and_says_why(tmp_path, caplog):
    home = tmp_path / "home"
    fast_store(home / "data" / "keys.enc").set_many(VALUES)
    env = {"LLF_HOST_PASSPHRASE": "not the passphrase"}
    async with isolated_host(
        home, plugins=plugins(tmp_path), config=FAST_CONFIG, environ=env
    ) as host:
        assert host.keys is not None
        with pytest.raises(KeyStoreLocked, match="wrong passphrase"):
            host.keys.read_key("PROVIDER_A", plugin="keyed")
    assert "the key store stays locked" in caplog.text


async def test_the_redactor_service_learns_values_at_unlock(tmp_path):
    home = tmp_path / "home"
    fast_store(home / "data" / "keys.enc").set_many(VALUES)
    env = {"LLF_HOST_PASSPHRASE": PASSPHRASE}
    async with isolated_host(home, config=FAST_CONFIG, environ=env) as host:
        redactor = host.services["redactor"]
        assert redactor.redact_text(f"x {VALUES['PROVIDER_B']}") == "x [REDACTED:PROVIDER_B]"
