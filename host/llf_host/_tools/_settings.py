"""The ``[sandbox]`` config section: defaults, per-tool overrides and user grants.

Example::

    [sandbox]
    allow_degraded = false        # refuse tools when an isolation layer is missing
    concurrency = 4               # calls of one tool at a time (default for every tool)
    rate_per_minute = 120         # token bucket per tool (default: unlimited)
    approval_timeout_s = 300
    prefork = true                # keep a confined child ready for the next call

    [sandbox.limits]              # defaults for every tool (see llf_sandbox.Limits)
    timeout_s = 30
    memory_mb = 4096

    [sandbox.tools.http_get]      # one tool: the user's word wins over the plugin's
    confirm = true
    rate_per_minute = 10
    limits = { timeout_s = 10 }

    [sandbox.grants.tools_builtin]
    filesystem = ["~/notes", { path = "~/out", write = true }]

    [sandbox.grants.tools_net]
    network = ["example.org:443", "api.github.com:443"]
"""

from __future__ import annotations

from typing import Any
from typing import final

import msgspec
from msgspec import structs

from llf_sandbox import DEFAULT_LIMITS
from llf_sandbox import LAYERS
from llf_sandbox import LIMIT_NAMES
from llf_sandbox import Limits

from .._config import Config
from .._contracts import Tool
from .._errors import ConfigError

__all__ = ["GrantConfig", "SandboxSettings", "ToolOverride", "load_settings"]


class ToolOverride(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """``[sandbox.tools.<name>]``."""

    confirm: bool | None = None
    log_arguments: bool | None = None
    concurrency: int | None = None
    rate_per_minute: float | None = None
    limits: dict[str, float] = msgspec.field(default_factory=dict)


class GrantConfig(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """``[sandbox.grants.<plugin>]``: what the user gives a plugin (within its manifest)."""

    network: list[str] | None = None
    filesystem: list[str | dict[str, Any]] | None = None


@final
class SandboxSettings(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """The validated ``[sandbox]`` section."""

    allow_degraded: bool = False
    python: str | None = None
    prefork: bool = True
    required_layers: list[str] | None = None
    approval_timeout_s: float = 300.0
    max_arguments_kb: int = 1024
    concurrency: int = 4
    rate_per_minute: float | None = None
    limits: dict[str, float] = msgspec.field(default_factory=dict)
    tools: dict[str, ToolOverride] = msgspec.field(default_factory=dict)
    grants: dict[str, GrantConfig] = msgspec.field(default_factory=dict)

    def tool(self, name: str) -> ToolOverride:
        """The user's overrides for tool ``name`` (empty when none)."""
        return self.tools.get(name) or ToolOverride()

    def limits_for(self, tool: Tool) -> Limits:
        """Defaults < ``[sandbox.limits]`` < the plugin's limits < ``[sandbox.tools.<n>]``."""
        limits = DEFAULT_LIMITS.merged(self.limits)
        if tool.limits is not None:
            limits = limits.merged(structs.asdict(tool.limits))
        return limits.merged(self.tool(tool.name).limits)


def _check_limits(limits: dict[str, float], field: str, path: str) -> None:
    for name, value in limits.items():
        if name not in LIMIT_NAMES:
            raise ConfigError(
                f"{path}: [{field}] unknown limit {name!r}",
                hint=f"use one of: {', '.join(LIMIT_NAMES)}",
                field=f"{field}.{name}",
            )
        if value <= 0:
            raise ConfigError(
                f"{path}: [{field}] {name} must be positive",
                hint=f"{name} = 10",
                field=f"{field}.{name}",
            )


def load_settings(config: Config) -> SandboxSettings:
    """Validate ``[sandbox]``; raise :class:`ConfigError` naming the field."""
    path = str(config.path or "config")
    try:
        settings = msgspec.convert(config.section("sandbox"), SandboxSettings, strict=False)
    except msgspec.ValidationError as exc:
        raise ConfigError(
            f"{path}: [sandbox] is invalid: {exc}",
            hint="see docs/tools.md (Configuration) for the [sandbox] keys",
            field="sandbox",
        ) from None
    _check_limits(settings.limits, "sandbox.limits", path)
    for name, override in settings.tools.items():
        _check_limits(override.limits, f"sandbox.tools.{name}.limits", path)
    for layer in settings.required_layers or []:
        if layer not in LAYERS:
            raise ConfigError(
                f"{path}: [sandbox] required_layers: unknown layer {layer!r}",
                hint=f"use any of: {', '.join(LAYERS)}",
                field="sandbox.required_layers",
            )
    if settings.concurrency < 1:
        raise ConfigError(
            f"{path}: [sandbox] concurrency must be at least 1",
            hint="concurrency = 4",
            field="sandbox.concurrency",
        )
    return settings
