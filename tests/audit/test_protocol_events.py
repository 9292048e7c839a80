"""Protocol sessions and refused params are audited by ``llf-host serve`` itself."""

from __future__ import annotations

import asyncio
import subprocess

import pytest

from llf_host._audit_log import verify_log
from llf_host.client import AsyncClient
from llf_host.client import InvalidParamsError
from llf_host.testing import home_environ

from .helpers import log_file
from .helpers import records


async def test_session_and_validation_failures_are_audited(tmp_path):
    env = home_environ(tmp_path, {"LLF_HOST_PLUGINS": "audit_log,exporters"})
    client = await AsyncClient.spawn(env=env, stderr=subprocess.DEVNULL)
    try:
        await asyncio.wait_for(
            client.initialize(client_info={"name": "audit-test", "version": "9.9"}), 60
        )
        with pytest.raises(InvalidParamsError):
            await client.request("export/conversation", {"format": 3, "all": True}, timeout=30)
    finally:
        code = await client.aclose()
    assert code == 0
    log = log_file(tmp_path)
    report = verify_log(log)
    assert report.ok, report.problems
    by_kind = {r["kind"]: r for r in records(log)}
    start = by_kind["session.start"]
    assert start["data"]["client"] == {"name": "audit-test", "version": "9.9"}
    failed = by_kind["validation.failed"]
    assert failed["data"] == {"method": "export/conversation", "field": "format"}
    assert by_kind["session.end"]["data"]["client"]["name"] == "audit-test"
    kinds = [r["kind"] for r in records(log)]
    assert (
        kinds.index("session.start")
        < kinds.index("validation.failed")
        < kinds.index("session.end")
        < kinds.index("host.stop")
    )
