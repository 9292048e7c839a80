"""Loading one plugin: import, register hooks, collect contributions.

A :class:`PluginRecord` is one plugin as the host sees it: where it came from,
its status (``ok``, ``failed``, ``disabled``), the reason when it failed, and what
it contributed. :class:`PluginLoader` turns a discovery candidate into a record
and never raises for anything the plugin did.
"""

from __future__ import annotations

import inspect
import itertools
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING
from typing import Any
from typing import Literal
from typing import final

import msgspec
import pluggy
from msgspec import structs

from . import hookspecs
from ._context import KeySource
from ._context import PluginContext
from ._contracts import Auditor
from ._contracts import Exporter
from ._contracts import Provider
from ._contracts import Tool
from ._contracts import ToolLimits
from ._discovery import Candidate
from ._errors import LLMError
from ._errors import ManifestError
from ._errors import PluginError
from ._guard import call_guarded
from ._guard import plugin_failure
from ._importer import ImportedPlugin
from ._importer import import_failure
from ._importer import import_plugin
from ._importer import module_relative_name
from ._importer import unimport
from ._manifest import Manifest
from ._memory_contract import MemoryBackend
from ._registry import Contributions
from ._validated_configs import ValidatedConfigs

if TYPE_CHECKING:
    from ._config import Config

__all__ = ["CONTRIBUTION_HOOKS", "PluginLoader", "PluginRecord", "PluginStatus"]

log = logging.getLogger("llf.plugins")

PluginStatus = Literal["ok", "failed", "disabled"]

HOOK_NAMES = frozenset(
    name
    for name in dir(hookspecs)
    if name.startswith("llf_") and callable(getattr(hookspecs, name))
)

#: hook name -> (Contributions attribute, expected type)
CONTRIBUTION_HOOKS: dict[str, tuple[str, type]] = {
    "llf_providers": ("providers", Provider),
    "llf_tools": ("tools", Tool),
    "llf_memory_backends": ("memory_backends", MemoryBackend),
    "llf_exporters": ("exporters", Exporter),
    "llf_auditors": ("auditors", Auditor),
}


@final
class PluginRecord:
    """One plugin as loaded (or not) by the host."""

    def __init__(
        self,
        name: str,
        *,
        source: str,
        location: str,
        manifest: Manifest | None = None,
        status: PluginStatus = "ok",
        error: LLMError | None = None,
    ) -> None:
        self.name = name
        self.source = source
        self.location = location
        self.manifest = manifest
        self.status: PluginStatus = status
        #: Why the plugin failed (or the last reload failed), if it did.
        self.error = error
        #: Non-fatal problems (duplicate contributions, a failing hook).
        self.warnings: list[str] = []
        self.contributions = Contributions()
        self.context: PluginContext | None = None
        self.imported: ImportedPlugin | None = None
        #: The object registered with pluggy (entry module or entry-point object).
        self.hook_object: object | None = None
        self.load_ms: float = 0.0

    @property
    def version(self) -> str:
        """The manifest version, or ``?`` when the manifest is unreadable."""
        return self.manifest.version if self.manifest else "?"

    @property
    def description(self) -> str:
        """The manifest description."""
        return self.manifest.description if self.manifest else ""

    def hooks(self) -> list[str]:
        """Names of the hooks this plugin implements."""
        if self.hook_object is None:
            return []
        return sorted(n for n in HOOK_NAMES if _is_hookimpl(getattr(self.hook_object, n, None)))

    def summary(self) -> dict[str, Any]:
        """A JSON-ready description for ``plugins list`` and ``plugins/list``."""
        out: dict[str, Any] = {
            "name": self.name,
            "version": self.version,
            "source": self.source,
            "location": self.location,
            "status": self.status,
            "description": self.description,
            "contributes": self.contributions.summary(),
            "hooks": self.hooks(),
            "load_ms": round(self.load_ms, 2),
        }
        if self.manifest is not None:
            perms = self.manifest.permissions
            out["permissions"] = {
                "network": list(perms.network),
                "filesystem": [
                    {"path": g.path, "write": g.write} if g.write else g.path
                    for g in perms.filesystem
                ],
                "keys": list(perms.keys),
            }
        if self.error is not None:
            out["error"] = self.error.to_wire()
        if self.warnings:
            out["warnings"] = list(self.warnings)
        return out

    def __repr__(self) -> str:
        return f"<PluginRecord {self.name} {self.status} from {self.source}>"


def _is_hookimpl(obj: object) -> bool:
    return obj is not None and hasattr(obj, f"{hookspecs.PROJECT_NAME}_impl")


def _check_hook_names(obj: object, name: str) -> None:
    """Refuse hook implementations for hooks that do not exist (typos)."""
    for attr in dir(obj):
        if not attr.startswith("llf_"):
            continue
        value = getattr(obj, attr, None)
        if _is_hookimpl(value) and attr not in HOOK_NAMES:
            raise PluginError(
                f"plugin {name!r} implements unknown hook {attr!r}",
                hint=f"known hooks: {', '.join(sorted(HOOK_NAMES))}",
                plugin=name,
                hook=attr,
            )


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, list | tuple):
        return list(value)
    return [value]


@final
class PluginLoader:
    """Turns discovery candidates into loaded plugins registered with pluggy."""

    def __init__(
        self,
        pm: pluggy.PluginManager,
        *,
        config: Config,
        data_dir: Path,
        keys: KeySource | None = None,
        validated: ValidatedConfigs | None = None,
    ) -> None:
        self.pm = pm
        self.config = config
        self.data_dir = data_dir
        self.keys = keys
        #: Config sections that passed their schema before (skips jsonschema).
        self.validated = validated or ValidatedConfigs(None)
        self._loads = itertools.count(1)

    # -- import and register ---------------------------------------------------------
    def load(self, candidate: Candidate) -> PluginRecord:
        """Import and register one candidate. Never raises for plugin faults."""
        start = time.perf_counter()
        record = PluginRecord(
            candidate.name,
            source=candidate.source,
            location=str(candidate.location),
            manifest=candidate.manifest,
        )
        try:
            if candidate.error is not None:
                raise candidate.error
            if candidate.entry_point is not None:
                self._load_entry_point(candidate, record)
            else:
                assert candidate.manifest is not None
                self._load_drop_in(candidate.manifest, record)
            self._validate_config(record)
            assert record.manifest is not None
            record.context = PluginContext(
                record.manifest,
                config=self.config.plugin_section(record.name),
                data_dir=self.data_dir / record.name,
                keys=self.keys,
            )
            self.pm.register(record.hook_object, name=self._pm_name(record))
        except LLMError as exc:
            self._discard(record)
            record.status = "failed"
            record.error = exc
            log.error("plugin %s: %s", record.name, exc)
        except pluggy.PluginValidationError as exc:
            self._discard(record)
            record.status = "failed"
            record.error = PluginError(
                f"plugin {record.name!r} has an invalid hook implementation: {exc}",
                hint="hook arguments must be a subset of the hook's documented arguments "
                "(docs/plugins.md)",
                plugin=record.name,
            )
            log.error("plugin %s: %s", record.name, record.error)
        record.load_ms = (time.perf_counter() - start) * 1000
        return record

    def _pm_name(self, record: PluginRecord) -> str:
        # Unique per load: an old version stays registered until it is retired.
        return f"{record.name}#{next(self._loads)}"

    def _load_drop_in(self, manifest: Manifest, record: PluginRecord) -> None:
        imported = import_plugin(manifest)
        record.imported = imported
        _check_hook_names(imported.module, manifest.name)
        record.hook_object = imported.module

    def _load_entry_point(self, candidate: Candidate, record: PluginRecord) -> None:
        ep = candidate.entry_point
        assert ep is not None
        placeholder = Manifest(
            name=candidate.name,
            version="?",
            description="",
            host_api="1",
            entry=ep.value,
            root=Path(),
            path=Path(),
            source="entrypoint",
        )
        try:
            obj = ep.load()
        except BaseException as exc:
            if isinstance(exc, KeyboardInterrupt):
                raise
            raise import_failure(placeholder, exc) from None
        manifest = self._entry_point_manifest(candidate, obj)
        record.manifest = manifest
        record.location = f"{ep.value} ({manifest.root})"
        _check_hook_names(obj, manifest.name)
        record.hook_object = obj

    def _entry_point_manifest(self, candidate: Candidate, obj: object) -> Manifest:
        from ._manifest import parse_manifest

        ep = candidate.entry_point
        assert ep is not None
        module_file = getattr(obj, "__file__", None) or getattr(
            inspect.getmodule(obj), "__file__", None
        )
        root = Path(module_file).parent if module_file else Path()
        manifest_path = root / "plugin.toml"
        if manifest_path.is_file():
            manifest = parse_manifest(manifest_path, source="entrypoint")
            if manifest.name != ep.name:
                raise ManifestError(
                    f"{manifest_path}: [plugin.name] is {manifest.name!r} but the entry point "
                    f"is named {ep.name!r}",
                    hint="use the same name in plugin.toml and the llf_host.plugins entry point",
                    file=str(manifest_path),
                    field="plugin.name",
                )
            return manifest
        dist = ep.dist
        return Manifest(
            name=ep.name,
            version=dist.version if dist is not None else "?",
            description=(dist.metadata["Summary"] or "") if dist is not None else "",
            host_api="1",
            entry=ep.value,
            root=root,
            path=root,
            source="entrypoint",
        )

    def _validate_config(self, record: PluginRecord) -> None:
        manifest = record.manifest
        if manifest is None or manifest.config_schema is None:
            return
        section = self.config.plugin_section(record.name)
        if not section and not manifest.config_schema.get("required"):
            # Nothing to validate: skip importing jsonschema (~50 ms of cold start).
            return
        digest = self.validated.digest(manifest.config_schema, section)
        if self.validated.known(digest):
            return  # this exact section passed this exact schema before
        import jsonschema

        validator = jsonschema.Draft202012Validator(manifest.config_schema)
        errors = sorted(validator.iter_errors(section), key=lambda e: list(e.path))
        if not errors:
            self.validated.remember(digest)
        else:
            err = errors[0]
            field = ".".join(str(p) for p in err.path) or "(section)"
            from ._errors import ConfigError

            raise ConfigError(
                f"config [plugins.{record.name}] {field}: {err.message}",
                hint=f"fix {field} in {self.config.path or 'the config file'} "
                f"(schema: {manifest.path})",
                plugin=record.name,
                field=field,
            )

    # -- contributions ------------------------------------------------------------
    async def collect(self, record: PluginRecord) -> None:
        """Call the plugin's contribution hooks; a failing hook fails the plugin."""
        if record.status != "ok" or record.hook_object is None:
            return
        contributions = Contributions()
        try:
            for hook, (attr, expected) in CONTRIBUTION_HOOKS.items():
                impl = getattr(record.hook_object, hook, None)
                if not _is_hookimpl(impl):
                    continue
                value = await self.call_hook(record, hook, {})
                items = _as_list(value)
                for item in items:
                    if not isinstance(item, expected):
                        raise PluginError(
                            f"plugin {record.name!r}: {hook} returned {type(item).__name__}, "
                            f"expected {expected.__name__}",
                            hint=f"return {expected.__name__} objects (or a list of them)",
                            plugin=record.name,
                            hook=hook,
                        )
                if attr == "tools":
                    items = [self._bind_tool(record, t) for t in items]
                getattr(contributions, attr).extend(items)
        except LLMError as exc:
            record.status = "failed"
            record.error = exc
            log.error("plugin %s: %s", record.name, exc)
            self.unregister(record)
            return
        record.contributions = contributions

    def _bind_tool(self, record: PluginRecord, tool: Tool) -> Tool:
        """Make a tool's ``function`` relative to its plugin and apply manifest settings."""
        module, _, attr = tool.function.partition(":")
        relative, _package = module_relative_name(module)
        # Installed plugins: make the module relative to the plugin's own package,
        # which is where the sandbox imports it from (manifest.root).
        own_package = getattr(record.hook_object, "__package__", None)
        if _package is None and own_package and relative.startswith(own_package + "."):
            relative = relative[len(own_package) + 1 :]
        settings = record.manifest.tools.get(tool.name) if record.manifest else None
        if settings is None:
            return structs.replace(tool, function=f"{relative}:{attr}", plugin=record.name)
        limits = tool.limits
        if settings.limits:
            merged: dict[str, Any] = structs.asdict(limits) if limits else {}
            merged.update(settings.limits)
            limits = msgspec.convert(merged, ToolLimits, strict=False)
        return structs.replace(
            tool,
            function=f"{relative}:{attr}",
            plugin=record.name,
            confirm=tool.confirm if settings.confirm is None else settings.confirm,
            log_arguments=(
                tool.log_arguments if settings.log_arguments is None else settings.log_arguments
            ),
            limits=limits,
        )

    async def call_hook(self, record: PluginRecord, hook: str, kwargs: dict[str, Any]) -> Any:
        """Call one of ``record``'s hook implementations with the arguments it asks for."""
        impl = getattr(record.hook_object, hook, None)
        if not _is_hookimpl(impl):
            return None
        assert callable(impl)
        available = {"context": record.context, **kwargs}
        params = inspect.signature(impl).parameters
        args = {name: available[name] for name in params if name in available}
        return await call_guarded(record.name, f"{hook}()", impl, **args)

    # -- unload ---------------------------------------------------------------------
    def unregister(self, record: PluginRecord) -> None:
        """Unregister from pluggy and forget the plugin's modules."""
        if record.hook_object is not None and self.pm.is_registered(record.hook_object):
            self.pm.unregister(record.hook_object)
        self._discard(record)

    def _discard(self, record: PluginRecord) -> None:
        if record.imported is not None:
            unimport(record.imported)
            record.imported = None
        # Its modules are gone: nothing may call its hooks any more.
        record.hook_object = None


def failure_record(candidate: Candidate, exc: BaseException) -> PluginRecord:
    """A failed record for a candidate whose loading crashed unexpectedly."""
    err = plugin_failure(candidate.name, "load", exc)
    return PluginRecord(
        candidate.name,
        source=candidate.source,
        location=str(candidate.location),
        manifest=candidate.manifest,
        status="failed",
        error=err,
    )


def disabled_record(candidate: Candidate, why: str) -> PluginRecord:
    """A record for a plugin the config or the allow-list turned off."""
    record = PluginRecord(
        candidate.name,
        source=candidate.source,
        location=str(candidate.location),
        manifest=candidate.manifest,
        status="disabled",
    )
    record.warnings.append(why)
    return record
