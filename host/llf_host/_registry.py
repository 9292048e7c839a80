"""The registry: what every loaded plugin contributes, and who provides what.

A :class:`Registry` is an immutable snapshot. The host builds a new one when a
plugin loads, unloads or reloads and swaps it in with one assignment, so a request
that resolved a provider keeps using that object even if a reload happens
mid-flight.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Generic
from typing import Literal
from typing import TypeVar
from typing import final

from ._contracts import Auditor
from ._contracts import Exporter
from ._contracts import Provider
from ._contracts import Tool
from ._errors import ModelNotFoundError
from ._errors import NotAvailableError
from ._errors import ToolNotFoundError
from ._lease import Lease
from ._memory_contract import MemoryBackend

__all__ = ["Contributions", "Entry", "Kind", "Registry"]

T = TypeVar("T")
Kind = Literal["provider", "tool", "memory_backend", "exporter", "auditor"]


@final
class Entry(Generic[T]):
    """A contributed object and the plugin that contributed it."""

    __slots__ = ("key", "lease", "obj", "plugin")

    def __init__(self, key: str, obj: T, plugin: str, lease: Lease | None = None) -> None:
        self.key = key
        self.obj = obj
        self.plugin = plugin
        #: Held by requests using ``obj`` so a reload can wait for them to finish.
        self.lease = lease if lease is not None else Lease()

    def __repr__(self) -> str:
        return f"<Entry {self.key} from {self.plugin}>"


@final
class Contributions:
    """What one plugin contributed in one load."""

    def __init__(self) -> None:
        self.providers: list[Provider] = []
        self.tools: list[Tool] = []
        self.memory_backends: list[MemoryBackend] = []
        self.exporters: list[Exporter] = []
        self.auditors: list[Auditor] = []
        #: Held by every request that uses one of these objects.
        self.lease = Lease()

    def summary(self) -> dict[str, list[str]]:
        """Names of everything contributed, by kind (empty kinds omitted)."""
        out = {
            "providers": [p.prefix for p in self.providers],
            "tools": [t.name for t in self.tools],
            "memory_backends": [m.name for m in self.memory_backends],
            "exporters": [e.format for e in self.exporters],
            "auditors": [a.name or type(a).__name__ for a in self.auditors],
        }
        return {k: v for k, v in out.items() if v}

    def all_objects(self) -> list[object]:
        """Every contributed object (to close them on unload)."""
        return [
            *self.providers,
            *self.tools,
            *self.memory_backends,
            *self.exporters,
            *self.auditors,
        ]


def _add(
    table: dict[str, Entry[T]],
    key: str,
    obj: T,
    plugin: str,
    kind: str,
    conflicts: list[tuple[str, str]],
    lease: Lease,
) -> None:
    existing = table.get(key)
    if existing is not None:
        conflicts.append(
            (
                plugin,
                f"{kind} {key!r} from plugin {plugin!r} conflicts with the one from plugin "
                f"{existing.plugin!r}; the one from {existing.plugin!r} is used. Rename it, or "
                f"disable one of the plugins ([host] disabled = [...])",
            )
        )
        return
    table[key] = Entry(key, obj, plugin, lease)


@final
class Registry:
    """An immutable view of every contribution, built from plugins in load order."""

    def __init__(self, contributions: Iterable[tuple[str, Contributions]] = ()) -> None:
        self.providers: dict[str, Entry[Provider]] = {}
        self.tools: dict[str, Entry[Tool]] = {}
        self.memory_backends: dict[str, Entry[MemoryBackend]] = {}
        self.exporters: dict[str, Entry[Exporter]] = {}
        self.auditors: list[Entry[Auditor]] = []
        #: (plugin, message) for every duplicate that was ignored.
        self.conflicts: list[tuple[str, str]] = []
        for plugin, contrib in contributions:
            for provider in contrib.providers:
                _add(
                    self.providers,
                    provider.prefix,
                    provider,
                    plugin,
                    "provider",
                    self.conflicts,
                    contrib.lease,
                )
            for tool in contrib.tools:
                _add(self.tools, tool.name, tool, plugin, "tool", self.conflicts, contrib.lease)
            for backend in contrib.memory_backends:
                _add(
                    self.memory_backends,
                    backend.name,
                    backend,
                    plugin,
                    "memory backend",
                    self.conflicts,
                    contrib.lease,
                )
            for exporter in contrib.exporters:
                _add(
                    self.exporters,
                    exporter.format,
                    exporter,
                    plugin,
                    "exporter",
                    self.conflicts,
                    contrib.lease,
                )
            for auditor in contrib.auditors:
                self.auditors.append(
                    Entry(auditor.name or type(auditor).__name__, auditor, plugin, contrib.lease)
                )

    def resolve_model(self, model_id: str) -> tuple[Entry[Provider], str]:
        """Split ``prefix/name`` on the first ``/`` and return the provider and local name.

        Model names may contain ``/`` themselves (``ollama/user/model:tag``).
        """
        prefix, sep, name = model_id.partition("/")
        entry = self.providers.get(prefix) if sep else None
        if entry is None or not name:
            known = ", ".join(f"{p}/" for p in sorted(self.providers)) or "none"
            raise ModelNotFoundError(
                f"no provider serves model {model_id!r}",
                hint=f"model ids look like prefix/name; loaded prefixes: {known}. "
                "Run `llf-host models list` to see available models",
                model=model_id,
            )
        return entry, name

    def tool(self, name: str) -> Entry[Tool]:
        """The tool called ``name``."""
        entry = self.tools.get(name)
        if entry is None:
            known = ", ".join(sorted(self.tools)) or "none"
            raise ToolNotFoundError(
                f"no tool named {name!r}",
                hint=f"available tools: {known}",
                tool=name,
            )
        return entry

    def exporter(self, fmt: str) -> Entry[Exporter]:
        """The exporter for format ``fmt``."""
        entry = self.exporters.get(fmt)
        if entry is None:
            known = ", ".join(sorted(self.exporters)) or "none"
            raise NotAvailableError(
                f"no exporter for format {fmt!r}",
                hint=f"available formats: {known}",
                format=fmt,
            )
        return entry

    def memory_backend(self, preferred: str | None = None) -> Entry[MemoryBackend]:
        """The configured memory backend, or the first one loaded."""
        if preferred:
            entry = self.memory_backends.get(preferred)
            if entry is None:
                known = ", ".join(sorted(self.memory_backends)) or "none"
                raise NotAvailableError(
                    f"memory backend {preferred!r} is not loaded",
                    hint=f"set [host] memory_backend to one of: {known}",
                    backend=preferred,
                )
            return entry
        for entry in self.memory_backends.values():
            return entry
        raise NotAvailableError(
            "no plugin provides a memory backend",
            hint="enable the built-in sqlite_memory plugin or install a memory backend plugin",
        )

    def who_provides(self, kind: Kind, name: str) -> str | None:
        """The plugin that contributed ``name`` of ``kind``, if any."""
        tables: dict[
            str,
            dict[str, Entry[Provider]]
            | dict[str, Entry[Tool]]
            | dict[str, Entry[MemoryBackend]]
            | dict[str, Entry[Exporter]],
        ] = {
            "provider": self.providers,
            "tool": self.tools,
            "memory_backend": self.memory_backends,
            "exporter": self.exporters,
        }
        if kind == "auditor":
            for entry in self.auditors:
                if entry.key == name:
                    return entry.plugin
            return None
        found = tables[kind].get(name)
        return found.plugin if found else None
