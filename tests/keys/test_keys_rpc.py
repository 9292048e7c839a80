"""keys/* protocol methods: they manage keys and never send a secret back."""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest

from llf_host import KeyNotFoundError
from llf_host import KeyStoreError
from llf_host import KeyStoreLocked
from llf_host import NotAvailableError
from llf_host._rpc.methods import keys as keys_methods
from llf_host._rpc.registry import METHODS
from llf_host.testing import isolated_host

from .helpers import FAST_CONFIG
from .helpers import PASSPHRASE
from .helpers import fast_store
from .helpers import write_plugin
from .test_keys_scoping import JSONL_AUDITOR
from .test_keys_scoping import read_events

SECRET = "sk-rpc-test-7c1f09a2b3"


class FakeContext:
    """The handler side of RequestContext: a host, an id, and no client traffic."""

    def __init__(self, host: Any) -> None:
        self.host = host
        self.request_id = 1
        self.client_info: dict[str, Any] = {"name": "test"}

    async def progress(self, token: str | int, value: Any) -> None:
        raise AssertionError("keys/* never streams")

    async def notify(self, method: str, params: Any) -> None:
        raise AssertionError("keys/* never notifies")

    async def request_client(
        self, method: str, params: Any, *, timeout: float | None = None
    ) -> Any:
        raise AssertionError("keys/* never asks the client")


async def call(host, method: str, params: dict[str, Any] | None = None) -> Any:
    spec = METHODS[method]
    decoded = msgspec.convert(params or {}, spec.params)
    return await spec.handler(FakeContext(host), decoded)


def test_the_family_declares_exactly_three_methods_and_none_returns_a_value():
    family = sorted(n for n in METHODS if n.startswith("keys/"))
    assert family == ["keys/delete", "keys/list", "keys/set"]
    assert keys_methods.KeySetParams.__struct_fields__ == ("name", "value")
    assert SECRET not in repr(keys_methods.KeySetParams(name="A", value=SECRET))


async def test_set_list_delete_through_the_handlers(tmp_path):
    home = tmp_path / "home"
    env = {"LLF_HOST_PASSPHRASE": PASSPHRASE}
    recorder = write_plugin(tmp_path, "recorder", JSONL_AUDITOR)
    async with isolated_host(home, plugins=[recorder], config=FAST_CONFIG, environ=env) as host:
        responses = [
            await call(host, "keys/set", {"name": "OPENAI_API_KEY", "value": SECRET}),
            await call(host, "keys/set", {"name": "OTHER", "value": SECRET + "-2"}),
            await call(host, "keys/list"),
            await call(host, "keys/delete", {"name": "OTHER"}),
            await call(host, "keys/list"),
        ]
    assert responses[0]["name"] == "OPENAI_API_KEY"
    assert set(responses[0]) == {"name", "created", "updated"}
    assert [k["name"] for k in responses[2]["keys"]] == ["OPENAI_API_KEY", "OTHER"]
    assert responses[3] == {"name": "OTHER", "deleted": True}
    assert [k["name"] for k in responses[4]["keys"]] == ["OPENAI_API_KEY"]
    assert SECRET not in json.dumps(responses)
    assert fast_store(home / "data" / "keys.enc").read_key("OPENAI_API_KEY", plugin="t") == SECRET
    # writes run in a worker thread; their audit events still reach the auditors
    changes = [e for e in read_events(home) if e["kind"] in {"key.write", "key.delete"}]
    assert [(e["kind"], e["data"]["name"]) for e in changes] == [
        ("key.write", "OPENAI_API_KEY"),
        ("key.write", "OTHER"),
        ("key.delete", "OTHER"),
    ]
    assert changes[0]["data"] == {
        "name": "OPENAI_API_KEY",
        "action": "create",
        "source": "protocol",
    }


async def test_errors_name_the_key_never_the_value(tmp_path):
    home = tmp_path / "home"
    env = {"LLF_HOST_PASSPHRASE": PASSPHRASE}
    async with isolated_host(home, config=FAST_CONFIG, environ=env) as host:
        errors = []
        for method, params, kind in [
            ("keys/delete", {"name": "MISSING"}, KeyNotFoundError),
            ("keys/set", {"name": "bad name!", "value": SECRET}, KeyStoreError),
            ("keys/set", {"name": "OK", "value": ""}, KeyStoreError),
        ]:
            with pytest.raises(kind) as info:
                await call(host, method, params)
            errors.append(info.value.to_wire())
    assert SECRET not in json.dumps(errors)
    assert errors[0]["data"]["key"] == "MISSING"


async def test_a_locked_host_answers_locked_with_the_fix(tmp_path):
    home = tmp_path / "home"
    fast_store(home / "data" / "keys.enc").set("K", SECRET)
    async with isolated_host(home, config=FAST_CONFIG) as host:
        with pytest.raises(KeyStoreLocked) as info:
            await call(host, "keys/list")
        assert "llf-host keys unlock" in info.value.hint
        with pytest.raises(KeyStoreLocked):
            await call(host, "keys/set", {"name": "K2", "value": SECRET})


async def test_without_a_store_there_is_nothing_to_list(tmp_path):
    async with isolated_host(tmp_path / "home", config=FAST_CONFIG) as host:
        assert (await call(host, "keys/list"))["keys"] == []
        host.keys = None
        with pytest.raises(NotAvailableError):
            await call(host, "keys/list")
