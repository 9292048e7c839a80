"""A blocked or failing auditor never slows or breaks the host.

Assertions are about order and counts, never wall-clock time: while an auditor
is stuck, ``host.audit`` keeps returning, a chat request completes, the bounded
queue drops the overflow and counts it, and every event is either delivered or
counted as dropped.
"""

from __future__ import annotations

import asyncio
import textwrap
from pathlib import Path

from llf_host import ChatRequest
from llf_host import Message
from llf_host._audit_log import verify_log
from llf_host._chat import stream_chat
from llf_host.testing import isolated_host

from .helpers import AUDIT_LOG
from .helpers import log_file
from .helpers import records

BLOCKING = """
import asyncio

from llf_host import Auditor, hookimpl
from llf_host.testing import MockProvider


class Blocking(Auditor):
    name = "blocking"

    def __init__(self):
        self.received = []
        self.release = asyncio.Event()

    async def record(self, event):
        self.received.append(event.kind)
        await self.release.wait()


@hookimpl
def llf_auditors():
    return Blocking()


@hookimpl
def llf_providers():
    return MockProvider("echo")
"""

RAISING = """
from llf_host import hookimpl


@hookimpl
def llf_audit(event):
    raise ValueError("this auditor is broken")
"""


def plugin(folder: Path, name: str, code: str) -> Path:
    target = folder / name
    target.mkdir(parents=True)
    (target / "plugin.toml").write_text(f'[plugin]\nname = "{name}"\n')
    (target / "plugin.py").write_text(textwrap.dedent(code))
    return target


async def until(condition, rounds: int = 500) -> None:
    for _ in range(rounds):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition never became true")


async def test_a_blocked_auditor_neither_blocks_requests_nor_loses_count(tmp_path):
    blocking = plugin(tmp_path / "plugins", "blocking", BLOCKING)
    config = {"plugins": {"audit_log": {"batch_size": 512}}}
    async with isolated_host(
        tmp_path / "home", plugins=[AUDIT_LOG, blocking], config=config
    ) as host:
        auditor = host.registry.auditors[-1].obj
        assert type(auditor).__name__ == "Blocking"
        await until(lambda: auditor.received)  # stuck on its first event from now on

        capacity = 10_000  # the host's audit queue
        flood = capacity + 500
        for index in range(flood):
            host.audit("test.flood", index=index)  # returns at once every time
        assert host.audit_bus.dropped >= flood - capacity

        result = await stream_chat(
            host.registry,
            ChatRequest(model="echo/echo", messages=[Message(role="user", content="still here")]),
        )
        assert result.message.content == "still here"
        assert not auditor.release.is_set()
        assert len(auditor.received) < 10  # the chat did not wait for the auditor

        auditor.release.set()
        await host.audit_bus.drain(timeout=120)
        delivered = auditor.received.count("test.flood")
        assert delivered + host.audit_bus.dropped == flood
        assert delivered >= capacity - 10
    log = log_file(tmp_path / "home")
    assert verify_log(log).ok
    assert sum(r["kind"] == "test.flood" for r in records(log)) == delivered


async def test_a_raising_auditor_is_counted_and_the_others_still_record(tmp_path):
    raising = plugin(tmp_path / "plugins", "raising", RAISING)
    async with isolated_host(tmp_path / "home", plugins=[AUDIT_LOG, raising]) as host:
        for index in range(30):
            host.audit("test.event", index=index)
        await host.audit_bus.drain()
        assert host.audit_bus.failures["raising"] >= 30
        assert host.plugins["raising"].status == "ok"
    assert sum(r["kind"] == "test.event" for r in records(log_file(tmp_path / "home"))) == 30
