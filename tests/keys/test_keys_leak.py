"""The leak test: known random secrets go in, and never come out anywhere.

Keys with random values are set through the protocol handlers; a provider
plugin reads them and misbehaves on purpose (logs them at debug, sends them to
a loopback HTTP server so httpx logs the URL, raises errors carrying them, puts
them in an audit event); an auditor plugin writes every event to a file; a
conversation holding a secret is exported. Then every file under the host home,
the captured stderr/stdout, the captured log records, the protocol responses
and the protocol-shaped errors are scanned for the values, raw, base64 and
URL-encoded: there must be no hit.
"""

from __future__ import annotations

import json
import logging
import secrets

import msgspec
import pytest

from llf_host import ChatRequest
from llf_host import LLMError
from llf_host import Message
from llf_host._chat import stream_chat
from llf_host._logging import configure_logging
from llf_host.testing import isolated_host

from .helpers import FAST_CONFIG
from .helpers import PASSPHRASE
from .helpers import files_under
from .helpers import scan_for
from .helpers import write_plugin
from .test_keys_rpc import call

LEAKY_PROVIDER = """
import base64, logging
from urllib.parse import quote
import httpx
from llf_host import AuthenticationError, hookimpl
from llf_host.testing import MockProvider

class Leaky(MockProvider):
    def __init__(self, context):
        super().__init__("leaky", models=["ok", "auth", "crash"], reply=self.reply)
        self.context = context

    def reply(self, request):
        key = self.context.key("LEAK_API_KEY")
        token = self.context.key("LEAK_TOKEN")
        log = self.context.log
        log.debug("using key %s and token %s", key, token)
        log.info("auth header: Basic %s", base64.b64encode(("user:" + key).encode()).decode())
        log.info("query: %s", "key=" + quote(key, safe=""))
        url = self.context.config["url"]
        httpx.get(url, params={"key": key, "t": token}, headers={"Authorization": "Bearer " + key})
        if request.model == "auth":
            raise AuthenticationError(f"the server rejected key {key}", hint=f"check {token}")
        if request.model == "crash":
            raise RuntimeError(f"crashed while using {key}")
        return "done"

@hookimpl
def llf_providers(context):
    return Leaky(context)

@hookimpl
def llf_startup(host, context):
    key = context.key("LEAK_API_KEY")
    host.audit("tool.call", plugin=context.name, arguments={"api_key": key, "note": f"k={key}"})
"""

RECORDER = """
import json
from llf_host import hookimpl

@hookimpl
def llf_audit(event, context):
    context.data_dir.mkdir(parents=True, exist_ok=True)
    with open(context.data_dir / "audit.jsonl", "a") as out:
        out.write(json.dumps({"kind": event.kind, "plugin": event.plugin, "data": event.data}))
        out.write("\\n")
"""


@pytest.fixture
def debug_logging(tmp_path):
    """--debug logging to stderr and a log file under the host home; restored afterwards."""
    root = logging.getLogger("llf")
    saved = (root.level, root.propagate, list(root.handlers))
    log_file = tmp_path / "home" / "logs" / "host.log"
    configure_logging(debug=True, log_file=log_file)
    logging.getLogger("httpx").setLevel(logging.DEBUG)
    try:
        yield log_file
    finally:
        for handler in list(root.handlers):
            if getattr(handler, "_llf_handler", False):
                root.removeHandler(handler)
                handler.close()
        root.setLevel(saved[0])
        root.propagate = saved[1]
        logging.getLogger("llf.trace").setLevel(logging.NOTSET)
        logging.getLogger("httpx").setLevel(logging.NOTSET)


def random_secrets() -> dict[str, str]:
    return {
        "LEAK_API_KEY": "sk-" + secrets.token_urlsafe(24),
        "LEAK_TOKEN": "p@ss/" + secrets.token_hex(12) + "+=&?é",
        "LEAK_UNUSED": secrets.token_urlsafe(32),
    }


async def test_no_secret_leaks_anywhere(tmp_path, loopback_api, debug_logging, capfd, caplog):
    caplog.set_level(logging.DEBUG)
    home = tmp_path / "home"
    values = random_secrets()
    plugins = [
        write_plugin(
            tmp_path,
            "leaky",
            LEAKY_PROVIDER,
            '[permissions]\nkeys = ["LEAK_API_KEY", "LEAK_TOKEN"]\nnetwork = ["127.0.0.1:*"]\n',
        ),
        write_plugin(tmp_path, "recorder", RECORDER),
    ]
    config = {**FAST_CONFIG, "plugins": {"leaky": {"url": loopback_api.url}}}
    env = {"LLF_HOST_PASSPHRASE": PASSPHRASE}
    protocol: list[object] = []

    # 1. the keys are set through the protocol handlers (a fresh store)
    async with isolated_host(home, config=config, environ=env) as host:
        for name, value in values.items():
            protocol.append(await call(host, "keys/set", {"name": name, "value": value}))
        protocol.append(await call(host, "keys/list"))

    # 2. a host that unlocks the store at start and runs the leaky provider
    async with isolated_host(home, plugins=plugins, config=config, environ=env) as host:
        assert host.plugins["leaky"].status == "ok", host.plugins["leaky"].error
        redactor = host.services["redactor"]
        result = await stream_chat(
            host.registry,
            ChatRequest(model="leaky/ok", messages=[Message(role="user", content="go")]),
        )
        protocol.append(msgspec.to_builtins(result))
        for model in ("leaky/auth", "leaky/crash"):
            with pytest.raises(LLMError) as info:
                await stream_chat(
                    host.registry,
                    ChatRequest(model=model, messages=[Message(role="user", content="go")]),
                )
            # what the protocol server sends for an error
            protocol.append(redactor.redact_error(info.value).to_wire())
            logging.getLogger("llf.rpc").error("request failed: %s", info.value, exc_info=True)
        protocol.append(await call(host, "keys/list"))
        with pytest.raises(LLMError) as missing:
            await call(host, "keys/delete", {"name": "NOT_THERE"})
        protocol.append(redactor.redact_error(missing.value).to_wire())
        await _export_a_conversation_with_a_secret(host, home, values["LEAK_API_KEY"])
        await host.audit_bus.drain()

    assert len(loopback_api.seen) == 3 and values["LEAK_API_KEY"] not in str(protocol)
    captured = capfd.readouterr()
    blobs = files_under(home)
    assert any(name.endswith("audit.jsonl") for name in blobs)
    assert (
        debug_logging.exists()
        and b"using key [REDACTED:LEAK_API_KEY]" in debug_logging.read_bytes()
    )
    assert b"HTTP Request" in debug_logging.read_bytes() or "HTTP Request" in caplog.text
    blobs.update(
        {
            "stderr": captured.err.encode(),
            "stdout": captured.out.encode(),
            "caplog": caplog.text.encode(),
            "caplog-records": "\n".join(
                r.getMessage() + str(r.exc_text) for r in caplog.records
            ).encode(),
            "protocol": json.dumps(protocol, ensure_ascii=False).encode(),
            "protocol-ascii": json.dumps(protocol).encode(),
        }
    )
    assert scan_for(values, blobs) == []


async def _export_a_conversation_with_a_secret(host, home, secret):
    """Run the export pipeline when it exists: what it hands exporters is redacted."""
    from llf_host._memory_contract import Conversation
    from llf_host._memory_contract import ConversationExport
    from llf_host._memory_contract import StoredMessage

    export = ConversationExport(
        conversation=Conversation(id="c1", title=f"debugging {secret}"),
        messages=[
            StoredMessage(
                id="m1",
                conversation_id="c1",
                message=Message(role="user", content=f"my key is {secret}, why 401?"),
                metadata={"headers": {"Authorization": f"Bearer {secret}"}},
            )
        ],
    )
    clean = host.services["redactor"].redact(export)
    out = home / "exports" / "c1.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(msgspec.json.encode(clean))
    assert b"[REDACTED:LEAK_API_KEY]" in out.read_bytes()
