"""One warm sandbox worker per tool plugin: build its spec, start it, check its layers.

A worker belongs to one load of a plugin (its PluginRecord). When the plugin
reloads, or :meth:`WorkerPool.restart` is called, the old worker stops taking
calls and closes once its running calls end; the next call starts a new one.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING
from typing import Any

from llf_sandbox import LAYERS
from llf_sandbox import Limits
from llf_sandbox import Worker
from llf_sandbox import WorkerSpec
from llf_sandbox import WorkerStartError
from llf_sandbox import spare_key
from llf_sandbox.probe import ProbeReport
from llf_sandbox.probe import probe

from .._errors import PluginError
from .._errors import SandboxDenied
from .._importer import ROOT_PACKAGE
from ._grants import EffectiveGrants
from ._grants import effective_grants
from ._settings import SandboxSettings

if TYPE_CHECKING:
    from .._host import Host
    from .._plugins import PluginRecord

__all__ = ["WorkerPool", "clean_stale_cgroups", "required_layers"]

log = logging.getLogger("llf.tools")
_counter = itertools.count(1)


def required_layers(settings: SandboxSettings, grants: EffectiveGrants) -> list[str]:
    """Layers a tool needs (``[sandbox] required_layers`` or all of them)."""
    wanted = (
        list(settings.required_layers) if settings.required_layers is not None else list(LAYERS)
    )
    if grants.network.granted and "netns" in wanted:
        wanted.remove("netns")
    return wanted


def _applied(value: Any) -> bool:
    return value is True or (isinstance(value, int) and not isinstance(value, bool) and value > 0)


def _commonest_limits(limits: list[Limits]) -> Limits | None:
    """The limits most of a plugin's tools run with: the first spare is made for them."""
    if not limits:
        return None
    keys = [spare_key(item.for_child()) for item in limits]
    best = max(keys, key=keys.count)
    return limits[keys.index(best)]


def _functions_and_packages(
    record: PluginRecord, refs: list[str]
) -> tuple[dict[str, tuple[str, str]], dict[str, list[str]], list[str]]:
    manifest = record.manifest
    assert manifest is not None
    functions: dict[str, tuple[str, str]] = {}
    packages: dict[str, list[str]] = {}
    paths: list[str] = []
    # Drop-in and installed plugins alike: the tool module is imported relative to
    # a synthetic package over the plugin's folder (the loader made installed
    # plugins' refs relative to their own package), never from site-packages.
    package = f"_llf_tools.{manifest.name.replace('-', '_')}"
    packages[package] = [str(manifest.root)]
    single_file = manifest.path.suffix == ".py"
    paths.append(str(manifest.path if single_file else manifest.root))
    for ref in refs:
        module, _, attr = ref.partition(":")
        if module.startswith(ROOT_PACKAGE + "."):
            module = ".".join(module.split(".")[2:])
        functions[ref] = (f"{package}.{module}", attr)
    return functions, packages, sorted(set(paths))


class _Slot:
    def __init__(self, worker: Worker, record: PluginRecord, grants: EffectiveGrants) -> None:
        self.worker = worker
        #: The plugin load this worker serves; a reload makes a new record.
        self.record = record
        self.grants = grants


class WorkerPool:
    """Warm workers by plugin name."""

    def __init__(
        self,
        host: Host,
        settings: SandboxSettings,
        *,
        audit: Callable[..., None],
    ) -> None:
        self.host = host
        self.settings = settings
        self._audit = audit
        self._slots: dict[str, _Slot] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._retiring: set[asyncio.Task[None]] = set()
        self._old: set[Worker] = set()
        self._probe: ProbeReport | None = None
        self._cleaned = False

    @property
    def python(self) -> str:
        """The interpreter workers run on."""
        return self.settings.python or sys.executable

    def probe_report(self) -> ProbeReport:
        """The (cached) capability probe for the worker interpreter."""
        if self._probe is None:
            self._probe = probe(self.python)
        return self._probe

    def grants_for(self, plugin: str) -> EffectiveGrants:
        """The effective grants of ``plugin`` under the current config."""
        record = self.host.plugins.get(plugin)
        return effective_grants(
            record.manifest if record else None, self.settings.grants.get(plugin)
        )

    async def get(self, plugin: str) -> tuple[Worker, EffectiveGrants]:
        """A running worker for the plugin's current load (started if needed)."""
        record = self.host.plugins.get(plugin)
        if record is None or record.status != "ok" or record.manifest is None:
            raise PluginError(
                f"plugin {plugin!r} is not loaded",
                hint="run `llf-host plugins list` to see why",
                plugin=plugin,
            )
        slot = self._slots.get(plugin)
        if slot is not None and slot.record is record and slot.worker.accepting:
            return slot.worker, slot.grants
        lock = self._locks.setdefault(plugin, asyncio.Lock())
        async with lock:
            slot = self._slots.get(plugin)
            if slot is not None:
                if slot.record is record and slot.worker.accepting:
                    return slot.worker, slot.grants
                self._retire(plugin)
            slot = await self._start(record)
            self._slots[plugin] = slot
            return slot.worker, slot.grants

    async def _start(self, record: PluginRecord) -> _Slot:
        plugin = record.name
        refs = sorted(
            {e.obj.function for e in self.host.registry.tools.values() if e.plugin == plugin}
        )
        functions, packages, paths = _functions_and_packages(record, refs)
        tools = sorted(
            (e.obj for e in self.host.registry.tools.values() if e.plugin == plugin),
            key=lambda tool: tool.name,
        )
        grants = effective_grants(record.manifest, self.settings.grants.get(plugin))
        report = await asyncio.get_running_loop().run_in_executor(None, self.probe_report)
        n = next(_counter)
        cgroup = report.cgroup_parent
        if cgroup and not self._cleaned:
            self._cleaned = True
            clean_stale_cgroups(cgroup)
        spec = WorkerSpec(
            plugin=plugin,
            functions=functions,
            packages=packages,
            plugin_paths=paths,
            runtime_dir=str(self.host.paths.cache_dir / "sandbox" / f"{os.getpid()}-{plugin}-{n}"),
            read_grants=list(grants.read),
            write_grants=list(grants.write),
            network=grants.network,
            python=self.python,
            cgroup_root=(
                str(Path(cgroup) / "llf-sandbox" / f"{os.getpid()}-{plugin}-{n}")
                if cgroup
                else None
            ),
            environ=dict(self.host.environ),
            prefork=self.settings.prefork,
            spare_limits=_commonest_limits([self.settings.limits_for(t) for t in tools]),
        )
        worker = Worker(spec)
        try:
            info = await worker.start()
        except WorkerStartError as exc:
            raise SandboxDenied(
                str(exc),
                hint="run `llf-host doctor`; check [sandbox] python",
                plugin=plugin,
                **exc.detail,
            ) from None
        self._check_layers(worker, record, grants)
        log.debug("sandbox worker for %s started in %.1f ms", plugin, info.start_ms)
        return _Slot(worker, record, grants)

    def _check_layers(self, worker: Worker, record: PluginRecord, grants: EffectiveGrants) -> None:
        assert worker.info is not None
        layers = worker.info.layers
        missing = {
            name: str(layers.get(name, "not reported"))
            for name in required_layers(self.settings, grants)
            if not _applied(layers.get(name))
        }
        if not missing:
            return
        if self.settings.allow_degraded:
            log.warning(
                "tools of plugin %s run with reduced isolation (allowed by [sandbox] "
                "allow_degraded): missing %s",
                record.name,
                ", ".join(f"{k} ({v})" for k, v in missing.items()),
            )
            self._audit("sandbox.degraded", plugin=record.name, missing=missing)
            return
        self._audit("sandbox.denied", plugin=record.name, reason="isolation", missing=missing)
        task = asyncio.get_running_loop().create_task(worker.aclose())
        self._retiring.add(task)
        task.add_done_callback(self._retiring.discard)
        raise SandboxDenied(
            f"the tools of plugin {record.name!r} need isolation this system does not offer: "
            + ", ".join(f"{k} ({v})" for k, v in missing.items()),
            hint="run `llf-host doctor` to see what is missing; to run with reduced isolation "
            "anyway set [sandbox] allow_degraded = true (logged and audited)",
            plugin=record.name,
            missing=missing,
        )

    def _retire(self, plugin: str) -> None:
        slot = self._slots.pop(plugin, None)
        if slot is None:
            return
        worker = slot.worker
        self._old.add(worker)
        task = asyncio.get_running_loop().create_task(worker.drain_and_close())
        self._retiring.add(task)
        task.add_done_callback(self._retiring.discard)
        task.add_done_callback(lambda _t: self._old.discard(worker))

    async def restart(self, plugin: str) -> None:
        """Retire the plugin's worker (running calls finish); the next call starts a new one."""
        lock = self._locks.setdefault(plugin, asyncio.Lock())
        async with lock:
            self._retire(plugin)

    def workers(self) -> dict[str, Worker]:
        """Live workers by plugin."""
        return {name: slot.worker for name, slot in self._slots.items()}

    async def aclose(self) -> None:
        """Kill every worker (running calls end as crashed) and wait for retirees."""
        slots, self._slots = self._slots, {}
        for worker in [*(slot.worker for slot in slots.values()), *self._old]:
            await worker.aclose()
        for task in list(self._retiring):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._retiring.clear()


def clean_stale_cgroups(parent: str) -> None:
    """Remove empty worker cgroups left by hosts that died (their pid is gone)."""
    base = Path(parent) / "llf-sandbox"
    if not base.is_dir():
        return
    for worker_dir in base.iterdir():
        pid_text = worker_dir.name.split("-", 1)[0]
        if not pid_text.isdigit() or Path(f"/proc/{pid_text}").exists():
            continue
        for slot in sorted(worker_dir.glob("s*"), reverse=True):
            with contextlib.suppress(OSError):
                slot.rmdir()
        with contextlib.suppress(OSError):
            worker_dir.rmdir()
