"""The host: finds and loads plugins, keeps the registry, runs their lifecycle.

The host knows no model, tool or database itself: everything it can do comes
from plugins through the hooks in :mod:`llf_host.hookspecs`. Features that need
more than the registry (the sandbox, the key store, the memory store, routing)
attach to the host as services; they live in their own modules.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any
from typing import final

import pluggy

from . import hookspecs
from ._audit import AuditBus
from ._audit import AuditSink
from ._config import Config
from ._config import load_config
from ._context import KeySource
from ._discovery import Candidate
from ._discovery import builtin_plugins_dir
from ._discovery import candidate_for_path
from ._discovery import discover_dir
from ._discovery import discover_entry_points
from ._errors import PluginError
from ._guard import call_guarded
from ._paths import HostPaths
from ._plugins import PluginLoader
from ._plugins import PluginRecord
from ._plugins import disabled_record
from ._plugins import failure_record
from ._registry import Registry
from ._types import AuditEvent
from ._validated_configs import ValidatedConfigs

__all__ = ["ALLOW_ENV", "Host"]

log = logging.getLogger("llf.host")
timing_log = logging.getLogger("llf.trace")

#: Environment allow-list: only these plugins load ("" = none: safe mode).
ALLOW_ENV = "LLF_HOST_PLUGINS"


def _allow_list(environ: dict[str, str]) -> frozenset[str] | None:
    raw = environ.get(ALLOW_ENV)
    if raw is None:
        return None
    return frozenset(n.strip() for n in raw.split(",") if n.strip())


@final
class Host:
    """A running set of plugins and what they contribute.

    Use it as an async context manager::

        async with Host() as host:
            provider, name = host.registry.resolve_model("llama_cpp/default")

    :param paths: where config, data and user plugins live (default: from the env).
    :param config: the configuration (default: read from ``paths.config_file``).
    :param plugins_dirs: extra drop-in folders (``--plugins-dir``).
    :param builtins: load the built-in plugins.
    :param user_plugins: load the user's plugins folder.
    :param entry_points: load pip-installed plugins.
    :param allow: only load these plugin names (default: ``LLF_HOST_PLUGINS``).
    """

    def __init__(
        self,
        *,
        paths: HostPaths | None = None,
        config: Config | None = None,
        plugins_dirs: Sequence[Path | str] = (),
        builtins: bool = True,
        user_plugins: bool = True,
        entry_points: bool = True,
        allow: Iterable[str] | None = None,
        environ: dict[str, str] | None = None,
    ) -> None:
        env = dict(os.environ) if environ is None else environ
        self.paths = paths or HostPaths.from_env(env)
        self.config = config if config is not None else load_config(self.paths.config_file, env)
        self.environ = env
        self.started_at = time.time()
        self._include_builtins = builtins
        self._include_user = user_plugins
        self._include_entry_points = entry_points
        self.allow: frozenset[str] | None = (
            frozenset(allow) if allow is not None else _allow_list(env)
        )
        self.extra_plugins_dirs = [Path(p).expanduser() for p in plugins_dirs]
        self.pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
        self.pm.add_hookspecs(hookspecs)
        #: Every plugin the host knows about, by name (failed and disabled too).
        self.plugins: dict[str, PluginRecord] = {}
        #: The current registry snapshot; replaced, never mutated.
        self.registry = Registry()
        self.audit_bus = AuditBus()
        self.keys: KeySource | None = None
        #: Services attached by features (sandbox, memory, router...), by name.
        self.services: dict[str, Any] = {}
        self._loader: PluginLoader | None = None
        self._started = False
        self._lock = asyncio.Lock()
        #: Timing of each start-up phase in ms (shown with --debug).
        self.phase_ms: dict[str, float] = {}
        #: Called with (record, change) after a plugin is added, reloaded or removed.
        self.plugin_listeners: list[Callable[[PluginRecord, str], None]] = []
        #: How long an old plugin version may keep serving requests after a reload.
        self.retire_grace_s = 60.0
        self._background: set[asyncio.Task[None]] = set()

    # -- where plugins come from ---------------------------------------------------
    def plugin_dirs(self) -> list[tuple[Path, str]]:
        """Every drop-in folder searched, in load order, with its source label."""
        dirs: list[tuple[Path, str]] = []
        if self._include_builtins:
            dirs.append((builtin_plugins_dir(), "builtin"))
        if self._include_user:
            dirs.append((self.paths.plugins_dir, "user"))
        for raw in self.config.host.plugins_dirs:
            dirs.append((Path(raw).expanduser(), "dir"))
        for path in self.extra_plugins_dirs:
            dirs.append((path, "dir"))
        return dirs

    def discover(self) -> list[Candidate]:
        """Every plugin candidate, in load order (built-ins first, entry points last)."""
        found: list[Candidate] = []
        for directory, source in self.plugin_dirs():
            found.extend(discover_dir(directory, source))  # type: ignore[arg-type]
        if self._include_entry_points:
            found.extend(discover_entry_points())
        return found

    def _why_disabled(self, name: str) -> str | None:
        if self.allow is not None and name not in self.allow:
            return f"not in {ALLOW_ENV} (safe mode allow-list)"
        disabled = {n.replace("-", "_") for n in self.config.host.disabled}
        if name.replace("-", "_") in disabled:
            return "disabled in config ([host] disabled)"
        return None

    # -- lifecycle -------------------------------------------------------------------
    @property
    def loader(self) -> PluginLoader:
        """The plugin loader (created on first use, after keys may be attached)."""
        if self._loader is None:
            self._loader = PluginLoader(
                self.pm,
                config=self.config,
                data_dir=self.paths.data_dir / "plugin-data",
                keys=self.keys,
                validated=ValidatedConfigs(self.paths.cache_dir / "config-valid.txt"),
            )
        return self._loader

    async def start(self) -> None:
        """Discover and load every plugin, build the registry, run ``llf_startup``."""
        if self._started:
            return
        self._started = True
        self.audit_bus.configure(self._audit_sinks, self._redact_event)
        self.audit_bus.start()
        from ._keys import attach_key_store

        # Before any plugin loads: the loader hands host.keys to every PluginContext.
        await attach_key_store(self)
        t0 = time.perf_counter()
        candidates = self.discover()
        t1 = time.perf_counter()
        for candidate in candidates:
            await self._load_new(candidate)
        t2 = time.perf_counter()
        self.rebuild_registry()
        for record in list(self.plugins.values()):
            if record.status == "ok":
                await self._startup(record)
        t3 = time.perf_counter()
        self.phase_ms = {
            "discover": (t1 - t0) * 1000,
            "load": (t2 - t1) * 1000,
            "startup": (t3 - t2) * 1000,
        }
        ok = sum(1 for r in self.plugins.values() if r.status == "ok")
        failed = sum(1 for r in self.plugins.values() if r.status == "failed")
        timing_log.debug(
            "host started: %d plugins ok, %d failed; discover %.1f ms, load %.1f ms, "
            "startup %.1f ms",
            ok,
            failed,
            *self.phase_ms.values(),
        )
        self.audit("host.start", plugins_ok=ok, plugins_failed=failed)

    async def aclose(self) -> None:
        """Run ``llf_shutdown`` and close every contributed object, plugins in reverse."""
        if not self._started:
            return
        if self._background:
            await asyncio.gather(*list(self._background), return_exceptions=True)
        for service in list(self.services.values())[::-1]:
            closer = getattr(service, "aclose", None)
            if closer is not None:
                try:
                    await closer()
                except Exception:
                    log.exception("closing service %r failed", service)
        # Hand queued events to the auditors while they still batch them (a closed
        # auditor writes, and fsyncs, each late event on its own).
        await self.audit_bus.drain()
        for record in list(self.plugins.values())[::-1]:
            if record.status == "ok":
                await self._shutdown(record)
        self.audit("host.stop")
        await self.audit_bus.aclose()
        self._started = False

    async def __aenter__(self) -> Host:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # -- loading single plugins (also used by reload) ----------------------------------
    async def _load_new(self, candidate: Candidate) -> PluginRecord:
        existing = self.plugins.get(candidate.name)
        if existing is not None:
            record = PluginRecord(
                candidate.name,
                source=candidate.source,
                location=str(candidate.location),
                manifest=candidate.manifest,
                status="failed",
                error=PluginError(
                    f"plugin name {candidate.name!r} at {candidate.location} is already used by "
                    f"the {existing.source} plugin at {existing.location}",
                    hint="rename one of them ([plugin] name), or disable the other in "
                    "[host] disabled",
                    plugin=candidate.name,
                ),
            )
            self.plugins[f"{candidate.name}@{candidate.location}"] = record
            return record
        why = self._why_disabled(candidate.name)
        if why is not None:
            record = disabled_record(candidate, why)
        else:
            record = await self.load_candidate(candidate)
        self.plugins[candidate.name] = record
        return record

    async def load_candidate(self, candidate: Candidate) -> PluginRecord:
        """Import one candidate and collect its contributions (not yet in the registry)."""
        try:
            record = self.loader.load(candidate)
            await self.loader.collect(record)
        except Exception as exc:
            log.exception("loading plugin %s crashed", candidate.name)
            record = failure_record(candidate, exc)
        kind = "plugin.load" if record.status == "ok" else "plugin.load_failed"
        self.audit(
            kind,
            plugin=record.name,
            source=record.source,
            version=record.version,
            error=record.error.message if record.error else None,
        )
        return record

    def rebuild_registry(self) -> Registry:
        """Build a new registry snapshot from every ``ok`` plugin and swap it in."""
        ok = [(r.name, r.contributions) for r in self.plugins.values() if r.status == "ok"]
        registry = Registry(ok)
        for record in self.plugins.values():
            record.warnings = [w for w in record.warnings if "conflicts with" not in w]
        for plugin, message in registry.conflicts:
            log.warning("%s", message)
            if plugin in self.plugins:
                self.plugins[plugin].warnings.append(message)
        self.registry = registry
        return registry

    async def _startup(self, record: PluginRecord) -> None:
        try:
            await self.loader.call_hook(record, "llf_startup", {"host": self})
        except PluginError as exc:
            record.warnings.append(f"llf_startup failed: {exc.message}")
            log.error("%s", exc)

    async def _shutdown(self, record: PluginRecord) -> None:
        try:
            await self.loader.call_hook(record, "llf_shutdown", {"host": self})
        except PluginError as exc:
            log.error("%s", exc)
        for obj in record.contributions.all_objects():
            closer = getattr(obj, "aclose", None)
            if closer is not None:
                try:
                    await call_guarded(record.name, f"{type(obj).__name__}.aclose()", closer)
                except PluginError as exc:
                    log.error("%s", exc)

    async def unload_plugin(self, name: str) -> None:
        """Drop a plugin from the registry, then retire it once its requests finish."""
        async with self._lock:
            record = self.plugins.pop(name, None)
            if record is None:
                return
            self.rebuild_registry()
            self._retire(record)
            self.audit("plugin.unload", plugin=name)
        self._notify_changed(record, "removed")

    async def load_new_plugin(self, path: Path, source: str = "dir") -> PluginRecord | None:
        """Load a plugin that appeared at ``path`` while the host runs."""
        candidate = candidate_for_path(path, source)  # type: ignore[arg-type]
        if candidate is None:
            return None
        async with self._lock:
            record = await self._load_new(candidate)
            if record.status == "ok":
                self.rebuild_registry()
                await self._startup(record)
        self._notify_changed(record, "added")
        return record

    async def reload_plugin(self, name: str) -> PluginRecord:
        """Load the plugin's current files; keep the old version if the new one fails.

        Requests already running keep the objects they resolved (and finish on the
        old version); new ones see the new version as soon as the registry is
        swapped. The old version is shut down when its last request finishes.
        """
        async with self._lock:
            old = self.plugins.get(name)
            candidate = (
                candidate_for_path(Path(old.location), old.source)  # type: ignore[arg-type]
                if old is not None and old.source != "entrypoint"
                else None
            )
            if old is None or candidate is None:
                raise PluginError(
                    f"no drop-in plugin named {name!r} to reload",
                    hint="run `llf-host plugins list` to see loaded plugins; plugins installed "
                    "with pip reload only when the host restarts",
                    plugin=name,
                )
            new = await self.load_candidate(candidate)
            if new.status != "ok":
                if old.status == "ok":
                    # Last good version stays; the failure is reported against it.
                    old.error = new.error
                    self.audit(
                        "plugin.reload_failed",
                        plugin=name,
                        error=new.error.message if new.error else None,
                    )
                    self._notify_changed(old, "reload_failed")
                    return old
                self.plugins[name] = new
                self._notify_changed(new, "failed")
                return new
            self.plugins[name] = new
            self.rebuild_registry()
            await self._startup(new)
            if old.status == "ok":
                self._retire(old)
            tools = self.services.get("tools")
            if tools is not None and hasattr(tools, "restart_workers"):
                await tools.restart_workers(name)
            self.audit("plugin.reload", plugin=name, version=new.version)
        self._notify_changed(new, "reloaded")
        return new

    def _retire(self, record: PluginRecord) -> None:
        """Shut an old version down once no request uses it (in the background)."""

        async def retire() -> None:
            idle = await record.contributions.lease.wait_idle(self.retire_grace_s)
            if not idle:
                log.warning(
                    "plugin %s: %d requests still use the old version after %.0f s; "
                    "shutting it down anyway",
                    record.name,
                    record.contributions.lease.active,
                    self.retire_grace_s,
                )
            if record.status == "ok":
                await self._shutdown(record)
            self.loader.unregister(record)

        task = asyncio.get_running_loop().create_task(retire(), name=f"retire-{record.name}")
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _notify_changed(self, record: PluginRecord, change: str) -> None:
        for listener in list(self.plugin_listeners):
            try:
                listener(record, change)
            except Exception:
                log.exception("plugin change listener failed")

    # -- audit -----------------------------------------------------------------------
    def audit(self, kind: str, *, plugin: str | None = None, **data: Any) -> None:
        """Emit an audit event (never blocks, never raises)."""
        self.audit_bus.emit(
            AuditEvent(
                kind=kind, plugin=plugin, data={k: v for k, v in data.items() if v is not None}
            )
        )

    def _audit_sinks(self) -> list[AuditSink]:
        sinks: list[AuditSink] = []
        for entry in self.registry.auditors:
            sinks.append((entry.plugin, entry.obj.record))
        for record in self.plugins.values():
            if record.status != "ok" or record.hook_object is None:
                continue
            if "llf_audit" in record.hooks():
                sinks.append((record.name, _hook_sink(self.loader, record)))
        return sinks

    def _redact_event(self, event: AuditEvent) -> AuditEvent:
        redactor = self.services.get("redactor")
        if redactor is None:
            return event
        result: AuditEvent = redactor.redact_event(event)
        return result

    # -- helpers -------------------------------------------------------------------
    def health(self) -> dict[str, Any]:
        """A summary of plugin states (the protocol adds more)."""
        states = [r.status for r in self.plugins.values()]
        return {
            "uptime_s": round(time.time() - self.started_at, 3),
            "plugins": {
                "ok": states.count("ok"),
                "failed": states.count("failed"),
                "disabled": states.count("disabled"),
            },
        }


def _hook_sink(loader: PluginLoader, record: PluginRecord) -> Any:
    async def sink(event: AuditEvent) -> None:
        await loader.call_hook(record, "llf_audit", {"event": event})

    return sink
