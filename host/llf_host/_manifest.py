"""``plugin.toml``: reading and validating a plugin's manifest.

A manifest is small and strict: unknown keys are errors (they are almost always
typos), and every error names the file, the field and the fix. See
docs/plugins.md for the format; :func:`parse_manifest` is the single entry point.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any
from typing import Literal
from typing import final

import msgspec

from ._errors import ManifestError
from ._version import HOST_API_VERSION

__all__ = [
    "FilesystemGrant",
    "Manifest",
    "Permissions",
    "PluginSource",
    "ToolSettings",
    "host_api_compatible",
    "manifest_for_module",
    "parse_manifest",
]

PluginSource = Literal["builtin", "user", "dir", "entrypoint", "test"]

NAME_RE = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")
MODULE_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
HOST_API_RE = re.compile(r"^(\d+)(?:\.(\d+))?$")
KEY_NAME_RE = re.compile(r"^[A-Za-z0-9_.:-]{1,128}$")
# host[:port], where host may be "*", "localhost", a name, an IPv4 or [IPv6].
NETWORK_RE = re.compile(r"^(\*|[A-Za-z0-9.-]+|\[[0-9A-Fa-f:]+\])(:(\*|\d{1,5}))?$")


class FilesystemGrant(msgspec.Struct, frozen=True):
    """A path a plugin's tools may access, read-only unless ``write``."""

    path: str
    write: bool = False


class Permissions(msgspec.Struct, frozen=True):
    """What a plugin may reach: network destinations, filesystem paths, key names."""

    network: tuple[str, ...] = ()
    filesystem: tuple[FilesystemGrant, ...] = ()
    keys: tuple[str, ...] = ()


class ToolSettings(msgspec.Struct, frozen=True):
    """Per-tool settings from ``[tools.<name>]``: approval, limits, rate."""

    confirm: bool | None = None
    limits: dict[str, float] = msgspec.field(default_factory=dict)
    concurrency: int | None = None
    rate_per_minute: float | None = None
    log_arguments: bool | None = None


@final
class Manifest(msgspec.Struct, frozen=True):
    """A validated plugin manifest plus where it came from."""

    name: str
    version: str
    description: str
    host_api: str
    entry: str
    root: Path
    path: Path
    source: PluginSource
    permissions: Permissions = Permissions()
    config_schema: dict[str, Any] | None = None
    tools: dict[str, ToolSettings] = msgspec.field(default_factory=dict)
    sandbox: dict[str, Any] = msgspec.field(default_factory=dict)


_TOP_LEVEL = {"plugin", "permissions", "config", "tools", "sandbox"}
_PLUGIN_KEYS = {"name", "version", "description", "host_api", "entry"}
_PERMISSION_KEYS = {"network", "filesystem", "keys"}
_TOOL_KEYS = {"confirm", "limits", "concurrency", "rate_per_minute", "log_arguments"}
_LIMIT_KEYS = {
    "timeout_s",
    "cpu_s",
    "memory_mb",
    "file_size_mb",
    "workdir_mb",
    "open_files",
    "processes",
    "output_kb",
}


class _Checker:
    """Collects the context (file, field) so every error message names both."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, field: str, problem: str, fix: str) -> ManifestError:
        return ManifestError(
            f"{self.path}: [{field}] {problem}",
            hint=fix,
            file=str(self.path),
            field=field,
        )

    def table(self, value: Any, field: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(
                field, f"must be a table, got {type(value).__name__}", f"write it as [{field}]"
            )
        return value

    def unknown(self, table: dict[str, Any], allowed: set[str], field: str) -> None:
        extra = sorted(set(table) - allowed)
        if extra:
            raise self.fail(
                f"{field}.{extra[0]}" if field else extra[0],
                f"unknown key {extra[0]!r}",
                f"remove it or use one of: {', '.join(sorted(allowed))}",
            )

    def string(
        self, table: dict[str, Any], key: str, field: str, *, default: str | None = None
    ) -> str:
        if key not in table:
            if default is not None:
                return default
            raise self.fail(f"{field}.{key}", "is required", f'add {key} = "..." under [{field}]')
        value = table[key]
        if not isinstance(value, str):
            raise self.fail(
                f"{field}.{key}",
                f"must be a string, got {type(value).__name__}",
                f'quote it: {key} = "{value}"',
            )
        return value

    def string_list(self, table: dict[str, Any], key: str, field: str) -> list[str]:
        value = table.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.fail(
                f"{field}.{key}", "must be a list of strings", f'write {key} = ["...", "..."]'
            )
        return value


def host_api_compatible(required: str, provided: str = HOST_API_VERSION) -> bool:
    """True when a plugin needing API ``required`` ("1" or "1.2") runs on ``provided``.

    Same major version, and the host's minor version at least the required one.
    """
    need = HOST_API_RE.match(required)
    have = HOST_API_RE.match(provided)
    if not need or not have:
        return False
    if need.group(1) != have.group(1):
        return False
    return int(need.group(2) or 0) <= int(have.group(2) or 0)


def _parse_permissions(check: _Checker, raw: Any) -> Permissions:
    table = check.table(raw, "permissions")
    check.unknown(table, _PERMISSION_KEYS, "permissions")
    network = check.string_list(table, "network", "permissions")
    for dest in network:
        if not NETWORK_RE.match(dest):
            raise check.fail(
                "permissions.network",
                f"{dest!r} is not a destination",
                'use "host", "host:port", "[::1]:port" or "*" (any)',
            )
    keys = check.string_list(table, "keys", "permissions")
    for key in keys:
        if not KEY_NAME_RE.match(key):
            raise check.fail(
                "permissions.keys",
                f"{key!r} is not a valid key name",
                "use letters, digits, '_', '.', ':' or '-' (at most 128)",
            )
    grants: list[FilesystemGrant] = []
    raw_fs = table.get("filesystem", [])
    if not isinstance(raw_fs, list):
        raise check.fail(
            "permissions.filesystem",
            "must be a list",
            'write filesystem = ["~/notes", {path = "~/out", write = true}]',
        )
    for item in raw_fs:
        if isinstance(item, str) and item:
            grants.append(FilesystemGrant(path=item))
        elif (
            isinstance(item, dict)
            and isinstance(item.get("path"), str)
            and item["path"]
            and set(item) <= {"path", "write"}
            and isinstance(item.get("write", False), bool)
        ):
            grants.append(FilesystemGrant(path=item["path"], write=item.get("write", False)))
        else:
            raise check.fail(
                "permissions.filesystem",
                f"entry {item!r} is not a path",
                'use "path" (read-only) or {path = "...", write = true}',
            )
    return Permissions(network=tuple(network), filesystem=tuple(grants), keys=tuple(keys))


def _parse_tools(check: _Checker, raw: Any) -> dict[str, ToolSettings]:
    table = check.table(raw, "tools")
    settings: dict[str, ToolSettings] = {}
    for tool_name, raw_tool in table.items():
        field = f"tools.{tool_name}"
        tool = check.table(raw_tool, field)
        check.unknown(tool, _TOOL_KEYS, field)
        limits = check.table(tool.get("limits", {}), f"{field}.limits")
        check.unknown(limits, _LIMIT_KEYS, f"{field}.limits")
        for lname, lvalue in limits.items():
            if isinstance(lvalue, bool) or not isinstance(lvalue, int | float) or lvalue <= 0:
                raise check.fail(
                    f"{field}.limits.{lname}", "must be a positive number", f"{lname} = 10"
                )
        for flag in ("confirm", "log_arguments"):
            if flag in tool and not isinstance(tool[flag], bool):
                raise check.fail(f"{field}.{flag}", "must be true or false", f"{flag} = true")
        concurrency = tool.get("concurrency")
        if concurrency is not None and (
            isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1
        ):
            raise check.fail(f"{field}.concurrency", "must be an integer ≥ 1", "concurrency = 4")
        rate = tool.get("rate_per_minute")
        if rate is not None and (
            isinstance(rate, bool) or not isinstance(rate, int | float) or rate <= 0
        ):
            raise check.fail(
                f"{field}.rate_per_minute", "must be a positive number", "rate_per_minute = 60"
            )
        settings[tool_name] = ToolSettings(
            confirm=tool.get("confirm"),
            limits={k: float(v) for k, v in limits.items()},
            concurrency=concurrency,
            rate_per_minute=float(rate) if rate is not None else None,
            log_arguments=tool.get("log_arguments"),
        )
    return settings


def _parse_config_schema(check: _Checker, raw: Any, root: Path) -> dict[str, Any] | None:
    table = check.table(raw, "config")
    check.unknown(table, {"schema", "schema_file"}, "config")
    if "schema" in table:
        return check.table(table["schema"], "config.schema")
    if "schema_file" in table:
        rel = check.string(table, "schema_file", "config")
        schema_path = (root / rel).resolve()
        try:
            loaded = msgspec.json.decode(schema_path.read_bytes())
        except (OSError, msgspec.DecodeError) as exc:
            raise check.fail(
                "config.schema_file",
                f"cannot read {schema_path}: {exc}",
                "point it at a JSON Schema file inside the plugin folder",
            ) from None
        return check.table(loaded, "config.schema_file")
    return None


def manifest_from_table(
    data: dict[str, Any], *, path: Path, root: Path, source: PluginSource
) -> Manifest:
    """Validate an already-parsed manifest table (from TOML or an inline block)."""
    check = _Checker(path)
    check.unknown(data, _TOP_LEVEL, "")
    plugin = check.table(data.get("plugin"), "plugin") if "plugin" in data else None
    if plugin is None:
        raise check.fail("plugin", "is missing", 'start the file with [plugin] and name = "..."')
    check.unknown(plugin, _PLUGIN_KEYS, "plugin")
    name = check.string(plugin, "name", "plugin")
    if not NAME_RE.match(name):
        raise check.fail(
            "plugin.name",
            f"{name!r} is not a valid plugin name",
            "use lowercase letters, digits, '-' or '_', starting with a letter (at most 64)",
        )
    version = check.string(plugin, "version", "plugin", default="0.0.0")
    description = check.string(plugin, "description", "plugin", default="")
    host_api = check.string(plugin, "host_api", "plugin", default=HOST_API_VERSION)
    if not HOST_API_RE.match(host_api):
        raise check.fail(
            "plugin.host_api",
            f"{host_api!r} is not an API version",
            f'use the major[.minor] this plugin was written for, e.g. "{HOST_API_VERSION}"',
        )
    if not host_api_compatible(host_api):
        raise check.fail(
            "plugin.host_api",
            f"needs host API {host_api}, this host provides {HOST_API_VERSION}",
            "install a version of the plugin made for this host, or upgrade llf-host",
        )
    entry = check.string(plugin, "entry", "plugin", default="plugin")
    if not MODULE_RE.match(entry):
        raise check.fail(
            "plugin.entry",
            f"{entry!r} is not a module name",
            'name the module that holds the hooks, without ".py" (e.g. "plugin")',
        )
    permissions = _parse_permissions(check, data.get("permissions", {}))
    config_schema = _parse_config_schema(check, data.get("config", {}), root)
    tools = _parse_tools(check, data.get("tools", {}))
    sandbox = check.table(data.get("sandbox", {}), "sandbox")
    return Manifest(
        name=name,
        version=version,
        description=description,
        host_api=host_api,
        entry=entry,
        root=root,
        path=path,
        source=source,
        permissions=permissions,
        config_schema=config_schema,
        tools=tools,
        sandbox=sandbox,
    )


def parse_manifest(path: Path, *, source: PluginSource) -> Manifest:
    """Read and validate ``plugin.toml`` at ``path``; raise :class:`ManifestError`."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ManifestError(
            f"{path}: cannot read the manifest: {exc}",
            hint="make sure plugin.toml is a readable UTF-8 file",
            file=str(path),
        ) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ManifestError(
            f"{path}: not valid TOML: {exc}",
            hint="fix the syntax at the line shown (strings need quotes, tables [brackets])",
            file=str(path),
        ) from None
    manifest = manifest_from_table(data, path=path, root=path.parent, source=source)
    entry_file = path.parent / (manifest.entry.replace(".", "/") + ".py")
    entry_pkg = path.parent / manifest.entry.replace(".", "/") / "__init__.py"
    if not entry_file.is_file() and not entry_pkg.is_file():
        raise ManifestError(
            f"{path}: [plugin.entry] module {manifest.entry!r} not found "
            f"(looked for {entry_file.name})",
            hint=f"create {entry_file} or set entry to the module that holds the hooks",
            file=str(path),
            field="plugin.entry",
        )
    return manifest


_INLINE_START = re.compile(r"^# /// plugin\s*$")
_INLINE_END = re.compile(r"^# ///\s*$")


def manifest_for_module(path: Path, *, source: PluginSource) -> Manifest:
    """The manifest of a single-file plugin ``name.py``.

    The file may carry an inline manifest in a comment block (same TOML as
    plugin.toml, PEP 723 style)::

        # /// plugin
        # [plugin]
        # description = "..."
        # [permissions]
        # network = ["127.0.0.1:8080"]
        # ///

    Without one, the plugin is named after the file and has no permissions.
    """
    stem = path.stem.lower().replace(".", "_")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ManifestError(
            f"{path}: cannot read the plugin file: {exc}",
            hint="make sure it is a readable UTF-8 file",
            file=str(path),
        ) from None
    block: list[str] | None = None
    found: list[str] | None = None
    for line in text.splitlines():
        if block is None:
            if _INLINE_START.match(line):
                block = []
        elif _INLINE_END.match(line):
            found = block
            break
        elif line.startswith("#"):
            block.append(line[2:] if line.startswith("# ") else line[1:])
        else:
            break
    data: dict[str, Any] = {}
    if found is not None:
        try:
            data = tomllib.loads("\n".join(found))
        except tomllib.TOMLDecodeError as exc:
            raise ManifestError(
                f"{path}: the inline '# /// plugin' block is not valid TOML: {exc}",
                hint="every line of the block starts with '# ' followed by TOML",
                file=str(path),
            ) from None
    plugin_table = data.setdefault("plugin", {})
    if isinstance(plugin_table, dict):
        plugin_table.setdefault("name", stem)
        plugin_table.setdefault("entry", path.stem)
    return manifest_from_table(data, path=path, root=path.parent, source=source)
