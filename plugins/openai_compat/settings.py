"""The plugin's configuration: ``[plugins.openai_compat]`` plus environment lists.

::

    [plugins.openai_compat]
    autodetect = true              # look for local servers on their usual loopback ports
    discovery_ttl_s = 60           # how long model lists are cached
    retries = 2                    # retries before the first token (connect errors, 429, 503)

    [plugins.openai_compat.engines.llamacpp]     # a built-in prefix
    hosts = ["127.0.0.1:8080", "gpu-box:8080"]

    [plugins.openai_compat.endpoints.together]   # a new prefix: together/...
    api_base = "https://api.together.xyz/v1"
    key = "TOGETHER_API_KEY"

Hosts per built-in engine also come from ``<PREFIX>_HOSTS`` environment variables
(``LLAMACPP_HOSTS="127.0.0.1:8080,127.0.0.1:8081"``) and the variables users
already set (``OLLAMA_HOST``, ``LM_STUDIO_API_BASE``, ``OPENAI_BASE_URL``); the
config file wins over the environment. Nothing here does I/O.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import msgspec

from llf_host import ConfigError

from .profiles import BUILTIN_PREFIXES
from .profiles import DEFAULT_KIND
from .profiles import KINDS
from .profiles import EngineKind
from .profiles import profile_for

__all__ = [
    "Address",
    "EndpointSettings",
    "EngineConfig",
    "ManagedSettings",
    "PluginSettings",
    "engine_configs",
    "parse_address",
]

PREFIX_RE = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")

#: Environment variables users already set, per built-in prefix (besides <PREFIX>_HOSTS).
CONVENTIONAL_ENV: dict[str, tuple[str, ...]] = {
    "ollama": ("OLLAMA_HOST",),
    "lm_studio": ("LM_STUDIO_API_BASE",),
    "openai": ("OPENAI_BASE_URL",),
}

DEFAULT_KEYS: dict[str, str] = {"openai": "OPENAI_API_KEY"}
OPENAI_API_BASE = "https://api.openai.com/v1"


class ManagedSettings(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """A command the host may launch when a local endpoint is down."""

    command: list[str]
    ready_timeout_s: float = 120.0
    env: dict[str, str] = msgspec.field(default_factory=dict)
    #: Start it when the endpoint is found down (else only on `start()`).
    autostart: bool = True


class EndpointSettings(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """One engine's or endpoint's settings; ``None`` means the engine's default."""

    api_base: str | None = None
    hosts: list[str] = msgspec.field(default_factory=list)
    engine: str | None = None
    key: str | None = None
    headers: dict[str, str] = msgspec.field(default_factory=dict)
    connect_timeout_s: float | None = None
    read_timeout_s: float | None = None
    retries: int | None = None
    stream: bool = True
    stream_usage: bool | None = None
    capabilities: list[str] = msgspec.field(default_factory=list)
    models: list[str] = msgspec.field(default_factory=list)
    context_length: int | None = None
    description: str = ""
    enabled: bool = True
    managed: ManagedSettings | None = None


class PluginSettings(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """The whole ``[plugins.openai_compat]`` section."""

    autodetect: bool = True
    discovery_ttl_s: float = 60.0
    retries: int = 2
    connect_timeout_s: float = 2.0
    probe_timeout_s: float = 0.5
    engines: dict[str, EndpointSettings] = msgspec.field(default_factory=dict)
    endpoints: dict[str, EndpointSettings] = msgspec.field(default_factory=dict)


class Address(msgspec.Struct, frozen=True):
    """Where one server listens: its root URL, its OpenAI base, a display name."""

    root: str
    api_base: str
    display: str

    @property
    def is_loopback(self) -> bool:
        """True for 127.0.0.0/8, ::1 and localhost."""
        host = urlsplit(self.root).hostname or ""
        return host in {"localhost", "::1"} or host.startswith("127.")


@dataclass(frozen=True, slots=True)
class EngineConfig:
    """A provider prefix with its resolved addresses and settings."""

    prefix: str
    kind: EngineKind
    addresses: tuple[Address, ...]
    #: True when the addresses come from config or the environment.
    explicit: bool
    settings: EndpointSettings
    custom: bool = False
    #: The user asked for this engine (a config table, hosts, or a custom endpoint):
    #: failures to list its models are reported instead of showing an empty list.
    configured: bool = False


def parse_address(raw: str, *, default_port: int | None = None) -> Address:
    """Turn ``host``, ``host:port``, ``[::1]:port`` or a URL into an :class:`Address`.

    A URL whose path ends in ``/v1`` (or any path) is taken as the OpenAI base and
    its root is the path without ``/v1``. ``0.0.0.0`` (a bind address, as in
    ``OLLAMA_HOST=0.0.0.0``) means this machine: ``127.0.0.1``.
    """
    text = raw.strip()
    if not text:
        raise ValueError("empty address")
    if "://" not in text:
        text = "http://" + text
    parts = urlsplit(text)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ValueError(f"{raw!r} is not an http(s) address")
    host = parts.hostname
    if host in {"0.0.0.0", "::"}:
        host = "127.0.0.1"
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"{raw!r} has an invalid port") from None
    if port is None and default_port is not None and "://" not in raw:
        port = default_port
    host_part = f"[{host}]" if ":" in host else host
    netloc = f"{host_part}:{port}" if port else host_part
    path = parts.path.rstrip("/")
    if path.endswith("/v1"):
        root_path, api_path = path[: -len("/v1")], path
    elif path:
        root_path, api_path = path, path
    else:
        root_path, api_path = "", "/v1"
    root = f"{parts.scheme}://{netloc}{root_path}"
    return Address(root=root, api_base=f"{parts.scheme}://{netloc}{api_path}", display=netloc)


def _config_error(field: str, problem: str, fix: str) -> ConfigError:
    return ConfigError(
        f"config [plugins.openai_compat] {field}: {problem}",
        hint=fix,
        plugin="openai_compat",
        field=field,
    )


def load_settings(section: Mapping[str, Any]) -> PluginSettings:
    """Validate the plugin's config section."""
    try:
        return msgspec.convert(dict(section), PluginSettings, strict=False)
    except msgspec.ValidationError as exc:
        raise _config_error(
            "", str(exc), "see docs/http-engines.md for the keys this section accepts"
        ) from None


def _env_addresses(prefix: str, environ: Mapping[str, str]) -> list[str]:
    listed = environ.get(f"{prefix.upper()}_HOSTS", "")
    found = [item.strip() for item in listed.split(",") if item.strip()]
    if found:
        return found
    for var in CONVENTIONAL_ENV.get(prefix, ()):
        value = environ.get(var, "").strip()
        if value:
            return [value]
    return []


def _addresses(field: str, kind: EngineKind, raw: list[str]) -> tuple[Address, ...]:
    ports = profile_for(kind).ports
    out: list[Address] = []
    for item in raw:
        try:
            out.append(parse_address(item, default_port=ports[0] if ports else None))
        except ValueError as exc:
            raise _config_error(
                field, str(exc), 'write hosts as "host:port" or "http://host:port/v1"'
            ) from None
    return tuple(out)


def _builtin_config(
    prefix: str, settings: EndpointSettings, environ: Mapping[str, str], *, in_config: bool
) -> EngineConfig:
    kind = DEFAULT_KIND[prefix]
    field = f"engines.{prefix}"
    raw = list(settings.hosts)
    if settings.api_base:
        raw.insert(0, settings.api_base)
    explicit = bool(raw)
    if not raw:
        raw = _env_addresses(prefix, environ)
        explicit = bool(raw)
    if not raw:
        if prefix == "openai":
            raw = [OPENAI_API_BASE]
        else:
            raw = [f"127.0.0.1:{port}" for port in profile_for(kind).ports]
    if settings.key is None and prefix in DEFAULT_KEYS:
        settings = msgspec.structs.replace(settings, key=DEFAULT_KEYS[prefix])
    return EngineConfig(
        prefix=prefix,
        kind=kind,
        addresses=_addresses(field, kind, raw),
        explicit=explicit,
        settings=settings,
        configured=in_config or explicit,
    )


def _custom_config(name: str, settings: EndpointSettings) -> EngineConfig:
    field = f"endpoints.{name}"
    if not PREFIX_RE.match(name):
        raise _config_error(
            field,
            f"{name!r} cannot be a model prefix",
            "use lowercase letters, digits, '_' or '-', starting with a letter",
        )
    if name in BUILTIN_PREFIXES or name == "ollama_chat":
        raise _config_error(
            field,
            f"{name!r} is a built-in prefix",
            f"configure it under [plugins.openai_compat.engines.{name}] instead",
        )
    kind_name = settings.engine or "generic"
    if kind_name not in KINDS:
        raise _config_error(
            f"{field}.engine", f"unknown engine {kind_name!r}", f"use one of: {', '.join(KINDS)}"
        )
    kind: EngineKind = next(k for k in KINDS if k == kind_name)
    raw = ([settings.api_base] if settings.api_base else []) + list(settings.hosts)
    if not raw:
        raise _config_error(
            field, "needs api_base or hosts", 'add api_base = "http://host:port/v1"'
        )
    return EngineConfig(
        prefix=name,
        kind=kind,
        addresses=_addresses(field, kind, raw),
        explicit=True,
        settings=settings,
        custom=True,
        configured=True,
    )


def engine_configs(
    settings: PluginSettings, environ: Mapping[str, str] | None = None
) -> list[EngineConfig]:
    """Every enabled engine: the built-in prefixes, then the configured endpoints."""
    env = os.environ if environ is None else environ
    unknown = sorted(set(settings.engines) - set(BUILTIN_PREFIXES))
    if unknown:
        raise _config_error(
            f"engines.{unknown[0]}",
            f"{unknown[0]!r} is not a built-in engine",
            f"use one of {', '.join(BUILTIN_PREFIXES)}, or declare a new endpoint under "
            f"[plugins.openai_compat.endpoints.{unknown[0]}]",
        )
    configs: list[EngineConfig] = []
    for prefix in BUILTIN_PREFIXES:
        engine_settings = settings.engines.get(prefix, EndpointSettings())
        if engine_settings.enabled:
            configs.append(
                _builtin_config(prefix, engine_settings, env, in_config=prefix in settings.engines)
            )
    for name, endpoint_settings in settings.endpoints.items():
        if endpoint_settings.enabled:
            configs.append(_custom_config(name, endpoint_settings))
    return configs
