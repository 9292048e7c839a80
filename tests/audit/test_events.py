"""Real operations leave audit records: plugin load, failure, reload, unload, host start/stop.

Nothing here calls the auditor: the host's operations emit the events, the
audit bus delivers them, and the test reads the log file the plugin wrote.
"""

from __future__ import annotations

import stat
import textwrap
from pathlib import Path

from llf_host._audit_log import verify_log
from llf_host._redact import Redactor
from llf_host.testing import isolated_host

from .helpers import AUDIT_LOG
from .helpers import log_file
from .helpers import records

SECRET = "sk-live-0123456789abcdef"


def write_plugin(folder: Path, version: str, body: str = "") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "plugin.toml").write_text(
        f'[plugin]\nname = "{folder.name}"\nversion = "{version}"\n'
    )
    (folder / "plugin.py").write_text(
        "from llf_host import hookimpl\n\n"
        + textwrap.dedent(body or "@hookimpl\ndef llf_startup():\n    pass\n")
    )
    return folder


def kinds(home: Path, plugin: str | None = None) -> list[str]:
    return [
        r["kind"] for r in records(log_file(home)) if plugin is None or r.get("plugin") == plugin
    ]


async def test_plugin_lifecycle_is_audited(tmp_path):
    home = tmp_path / "home"
    extra = tmp_path / "plugins"
    good = write_plugin(extra / "good", "1.0")
    write_plugin(extra / "broken", "1.0", "def oops(:\n")
    async with isolated_host(home, plugins=[AUDIT_LOG, extra]) as host:
        assert host.plugins["broken"].status == "failed"
        write_plugin(good, "2.0")
        await host.reload_plugin("good")
        write_plugin(good, "3.0", "raise RuntimeError('bad release')\n")
        await host.reload_plugin("good")
        assert host.plugins["good"].version == "2.0"  # the last good version stays
        await host.unload_plugin("good")
    log = log_file(home)
    assert stat.S_IMODE(log.stat().st_mode) == 0o600
    assert stat.S_IMODE(log.parent.stat().st_mode) == 0o700
    report = verify_log(log)
    assert report.ok, report.problems

    # Every load attempt is audited, and a reload says how it ended.
    assert kinds(home, "good") == [
        "plugin.load",
        "plugin.load",
        "plugin.reload",
        "plugin.load_failed",
        "plugin.reload_failed",
        "plugin.unload",
    ]
    all_records = records(log)
    failed = next(r for r in all_records if r["kind"] == "plugin.load_failed")
    assert failed["plugin"] == "broken" and "SyntaxError" in failed["data"]["error"]
    reload_failed = next(r for r in all_records if r["kind"] == "plugin.reload_failed")
    assert "bad release" in reload_failed["data"]["error"]
    reloaded = next(r for r in all_records if r["kind"] == "plugin.reload")
    assert reloaded["data"]["version"] == "2.0"
    assert kinds(home)[-1] == "host.stop"
    start = next(r for r in all_records if r["kind"] == "host.start")
    assert start["data"] == {"plugins_ok": 2, "plugins_failed": 1}


async def test_secret_values_never_reach_the_log(tmp_path):
    async with isolated_host(tmp_path, plugins=[AUDIT_LOG]) as host:
        redactor = Redactor()
        redactor.register("SERVICE_TOKEN", SECRET)
        host.services["redactor"] = redactor
        host.audit(
            "validation.failed", plugin="x", value=f"Bearer {SECRET}", nested=[{"k": SECRET}]
        )
    text = log_file(tmp_path).read_text()
    assert SECRET not in text
    assert "[REDACTED:SERVICE_TOKEN]" in text
    assert verify_log(log_file(tmp_path)).ok


async def test_records_written_by_several_hosts_share_one_chain(tmp_path):
    path = tmp_path / "shared" / "audit.jsonl"
    config = {"plugins": {"audit_log": {"path": str(path), "batch_size": 3}}}
    async with (
        isolated_host(tmp_path / "a", plugins=[AUDIT_LOG], config=config) as first,
        isolated_host(tmp_path / "b", plugins=[AUDIT_LOG], config=config) as second,
    ):
        for index in range(20):
            (first if index % 2 else second).audit("test.event", index=index)
            if index % 5 == 0:
                await first.audit_bus.drain()
                await second.audit_bus.drain()
    report = verify_log(path)
    assert report.ok, report.problems
    assert sum(r["kind"] == "test.event" for r in records(path)) == 20
