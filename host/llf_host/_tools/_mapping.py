"""Sandbox outcomes -> the host's errors (the boundary where llf_sandbox meets llf_host)."""

from __future__ import annotations

from typing import Any

from llf_sandbox import CallOutcome

from .._errors import SandboxDenied
from .._errors import ToolCrashed
from .._errors import ToolError
from .._errors import ToolOutputTooLarge
from .._errors import ToolResourceLimit
from .._errors import ToolTimeout
from .._manifest import Manifest

__all__ = ["denial_hint", "error_for"]

_STDERR_CHARS = 2000


def denial_hint(detail: dict[str, Any], plugin: str, manifest: Manifest | None) -> str:
    """Which permission would allow what the sandbox denied, and where to set it."""
    where = str(manifest.path) if manifest is not None else "the plugin's plugin.toml"
    user_mode = manifest is not None and manifest.sandbox.get("grants") == "user"
    if detail.get("what") == "network":
        host, port = detail.get("host"), detail.get("port")
        dest = f"{host}:{port}" if host and port else (host or "host:port")
        if user_mode:
            return (
                f'grant it in your config: [sandbox.grants.{plugin}] network = ["{dest}"] '
                f"(plugin {plugin!r} gets no network until you list destinations)"
            )
        return (
            f'add "{dest}" to [permissions] network in {where} (the manifest is the ceiling; '
            f"[sandbox.grants.{plugin}] in the config can narrow it)"
        )
    path = detail.get("path", "the path")
    access = detail.get("access", "read")
    entry = f'{{ path = "{path}", write = true }}' if access == "write" else f'"{path}"'
    if user_mode:
        return f"grant it in your config: [sandbox.grants.{plugin}] filesystem = [{entry}]"
    return f"add {entry} to [permissions] filesystem in {where}"


def error_for(
    outcome: CallOutcome, *, tool: str, plugin: str, manifest: Manifest | None
) -> ToolError:
    """The exception for a failed outcome (``outcome.ok`` must be False)."""
    data: dict[str, Any] = {
        "tool": tool,
        "plugin": plugin,
        "duration_ms": round(outcome.duration_ms, 2),
    }
    detail = dict(outcome.detail)
    if outcome.stderr:
        data["stderr"] = outcome.stderr[-_STDERR_CHARS:]
    status = outcome.status
    if status == "timeout":
        return ToolTimeout(outcome.message, hint=outcome.hint, **data, **detail)
    if status == "resource_limit":
        return ToolResourceLimit(outcome.message, hint=outcome.hint, **data, **detail)
    if status == "output_too_large":
        return ToolOutputTooLarge(outcome.message, hint=outcome.hint, **data, **detail)
    if status == "denied":
        return SandboxDenied(
            outcome.message, hint=denial_hint(detail, plugin, manifest), **data, **detail
        )
    if status == "unavailable":
        return SandboxDenied(outcome.message, hint=outcome.hint, **data, **detail)
    if status == "raised":
        return ToolError(
            outcome.message,
            hint=outcome.hint or "the tool itself failed; data.traceback shows where",
            **data,
            **detail,
        )
    return ToolCrashed(outcome.message, hint=outcome.hint, **data, **detail)
