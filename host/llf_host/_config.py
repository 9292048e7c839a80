"""The host's configuration: one TOML file plus environment overrides.

Layout (every section optional)::

    [host]                      # the host itself (HostSettings)
    plugins_dirs = ["~/llf-plugins"]
    disabled = ["mlx"]          # plugins not to load, built-ins included
    memory_backend = "sqlite"
    log_level = "info"
    log_file = "~/llf-host.log"

    [plugins.<name>]            # one plugin's section, validated by its schema

    [sandbox] [routing] [budgets] [prices] [keys] [endpoints]
                                # owned by the features of those names

Environment overrides use ``LLF_HOST__SECTION__KEY=value`` (double underscores
separate levels; the value is read as a TOML value when it parses as one, else as
a string): ``LLF_HOST__HOST__LOG_LEVEL=debug``,
``LLF_HOST__PLUGINS__LLAMA_CPP__N_THREADS=2``.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any
from typing import final

import msgspec

from ._errors import ConfigError

__all__ = ["KNOWN_SECTIONS", "Config", "HostSettings", "load_config"]

#: Top-level sections and who owns them. A feature adding a section adds it here.
KNOWN_SECTIONS: dict[str, str] = {
    "host": "the host (plugins, logging, limits)",
    "plugins": "per-plugin settings, [plugins.<name>]",
    "sandbox": "tool sandbox defaults",
    "routing": "routing policies",
    "budgets": "budgets",
    "prices": "price table overrides",
    "keys": "key store",
    "endpoints": "HTTP engine endpoints",
    "memory": "memory backend",
    "audit": "audit log",
    "protocol": "the stdio protocol server",
}

ENV_PREFIX = "LLF_HOST__"


class HostSettings(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """The ``[host]`` section."""

    plugins_dirs: list[str] = msgspec.field(default_factory=list)
    disabled: list[str] = msgspec.field(default_factory=list)
    memory_backend: str | None = None
    log_level: str = "warning"
    log_file: str | None = None
    default_model: str | None = None
    watch: bool = True
    plugin_concurrency: int = 16


def _parse_env_value(raw: str) -> Any:
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw


def _apply_env(data: dict[str, Any], environ: dict[str, str]) -> list[str]:
    applied: list[str] = []
    for var, raw in sorted(environ.items()):
        if not var.startswith(ENV_PREFIX):
            continue
        parts = [p.lower() for p in var[len(ENV_PREFIX) :].split("__") if p]
        if len(parts) < 2:
            continue
        node = data
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(
                    f"environment variable {var} sets a key under {part!r}, which is not a table",
                    hint=f"unset {var} or fix the config file",
                    variable=var,
                )
            node = child
        node[parts[-1]] = _parse_env_value(raw)
        applied.append(var)
    return applied


@final
class Config:
    """Loaded configuration: the raw tables plus the validated ``[host]`` section."""

    def __init__(
        self,
        data: dict[str, Any],
        *,
        path: Path | None = None,
        env_applied: list[str] | None = None,
    ) -> None:
        self.data = data
        self.path = path
        self.env_applied = env_applied or []
        unknown = sorted(set(data) - set(KNOWN_SECTIONS))
        if unknown:
            raise ConfigError(
                f"{path or 'config'}: unknown section [{unknown[0]}]",
                hint=f"use one of: {', '.join(sorted(KNOWN_SECTIONS))}",
                file=str(path) if path else None,
                field=unknown[0],
            )
        try:
            self.host = msgspec.convert(data.get("host", {}), HostSettings)
        except msgspec.ValidationError as exc:
            raise ConfigError(
                f"{path or 'config'}: [host] is invalid: {exc}",
                hint="see docs/configuration.md for the [host] keys",
                file=str(path) if path else None,
                field="host",
            ) from None
        plugins = data.get("plugins", {})
        if not isinstance(plugins, dict) or not all(isinstance(v, dict) for v in plugins.values()):
            raise ConfigError(
                f"{path or 'config'}: [plugins] must hold one table per plugin",
                hint="write settings as [plugins.<name>] tables",
                field="plugins",
            )

    def section(self, name: str) -> dict[str, Any]:
        """A top-level section (empty when absent)."""
        value = self.data.get(name, {})
        return value if isinstance(value, dict) else {}

    def plugin_section(self, plugin: str) -> dict[str, Any]:
        """The ``[plugins.<plugin>]`` table (empty when absent). Dashes match underscores."""
        plugins = self.section("plugins")
        for key in (plugin, plugin.replace("-", "_"), plugin.replace("_", "-")):
            if key in plugins:
                return dict(plugins[key])
        return {}

    @classmethod
    def empty(cls) -> Config:
        """A config with every default."""
        return cls({})


def load_config(path: Path, environ: dict[str, str] | None = None) -> Config:
    """Read ``path`` (missing is fine: defaults) and apply ``LLF_HOST__*`` overrides."""
    env = dict(os.environ) if environ is None else environ
    data: dict[str, Any] = {}
    if path.exists():
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(
                f"{path}: not valid TOML: {exc}",
                hint="fix the syntax at the line shown, or move the file away to start fresh",
                file=str(path),
            ) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(
                f"{path}: cannot read the config file: {exc}",
                hint="check the file's permissions",
                file=str(path),
            ) from None
    applied = _apply_env(data, env)
    return Config(data, path=path, env_applied=applied)
