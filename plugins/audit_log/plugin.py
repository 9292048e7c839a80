"""Built-in auditor: every audit event into a tamper-evident JSON Lines file.

Configure in ``[plugins.audit_log]``: ``path``, ``batch_size``,
``flush_interval_s``. Read and check the log with ``llf-host audit verify``,
``tail`` and ``search`` (docs/audit.md).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from llf_host import AuditEvent
from llf_host import PluginContext
from llf_host import hookimpl

from .auditor import JsonlAuditor

_services: dict[str, Any] = {}


def _redact(event: AuditEvent) -> AuditEvent:
    # The host's bus redacts already; this second pass keeps the file clean even
    # if an event reaches the auditor some other way.
    redactor = _services.get("services", {}).get("redactor")
    if redactor is None:
        return event
    redacted: AuditEvent = redactor.redact_event(event)
    return redacted


def log_path(context: PluginContext) -> Path:
    """The configured log file, or ``audit.jsonl`` in the plugin's data folder."""
    raw = context.config.get("path")
    if raw:
        path = Path(str(raw)).expanduser()
        return path if path.is_absolute() else context.data_dir / path
    return context.data_dir / "audit.jsonl"


@hookimpl
def llf_auditors(context: PluginContext) -> JsonlAuditor:
    return JsonlAuditor(
        log_path(context),
        batch_size=int(context.config.get("batch_size", 64)),
        flush_interval_s=float(context.config.get("flush_interval_s", 1.0)),
        redact=_redact,
    )


@hookimpl
def llf_startup(host: Any) -> None:
    _services["services"] = host.services


@hookimpl
def llf_shutdown() -> None:
    _services.clear()
