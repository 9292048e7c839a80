"""``llf-host doctor``: sections contributed by features, plus the sandbox section.

A feature adds a section by appending ``"module:function"`` to
:data:`DOCTOR_SECTIONS`; the function is ``async def section(host) ->
DoctorSection`` (or a dict ``{"title", "status", "lines", "data"}``, the shape
used by ``_doctor_providers``). Sections run one after the other; one that
fails becomes an error section instead of stopping the others.
"""

from __future__ import annotations

import dataclasses
import importlib
import logging
from typing import TYPE_CHECKING
from typing import Any
from typing import Literal

if TYPE_CHECKING:
    from ._host import Host

__all__ = [
    "DOCTOR_SECTIONS",
    "DoctorRow",
    "DoctorSection",
    "run_sections",
    "sandbox_health",
    "sandbox_section",
]

log = logging.getLogger("llf.doctor")

#: Every section, in display order, as "module:function".
DOCTOR_SECTIONS: list[str] = [
    "llf_host._doctor:sandbox_section",
    "llf_host._hardware:doctor_section",
    "llf_host._doctor_providers:doctor_section",
]

Status = Literal["ok", "warning", "error"]


@dataclasses.dataclass
class DoctorRow:
    """One line: a label, its value, and whether it is fine (None: informational)."""

    label: str
    value: str
    ok: bool | None = None


@dataclasses.dataclass
class DoctorSection:
    """A titled group of rows with an overall status."""

    title: str
    rows: list[DoctorRow] = dataclasses.field(default_factory=list)
    status: Status = "ok"
    data: dict[str, Any] = dataclasses.field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (``doctor --json``)."""
        return {
            "title": self.title,
            "status": self.status,
            "rows": [dataclasses.asdict(r) for r in self.rows],
            "data": self.data,
        }


def _from_dict(raw: dict[str, Any]) -> DoctorSection:
    status = raw.get("status", "ok")
    return DoctorSection(
        title=str(raw.get("title", "?")),
        rows=[DoctorRow(str(line), "") for line in raw.get("lines", [])],
        status=status if status in ("ok", "warning", "error") else "warning",
        data=dict(raw.get("data") or {}),
    )


async def run_sections(host: Host, names: list[str] | None = None) -> list[DoctorSection]:
    """Run every section (or those named), turning failures into error sections."""
    out: list[DoctorSection] = []
    for ref in names if names is not None else DOCTOR_SECTIONS:
        module_name, _, attr = ref.partition(":")
        try:
            func = getattr(importlib.import_module(module_name), attr)
            section = await func(host)
        except Exception as exc:
            log.exception("doctor section %s failed", ref)
            out.append(
                DoctorSection(
                    ref, [DoctorRow("failed", f"{type(exc).__name__}: {exc}", False)], "error"
                )
            )
            continue
        out.append(_from_dict(section) if isinstance(section, dict) else section)
    return out


def sandbox_health(host: Host | None = None) -> dict[str, Any]:
    """The sandbox part of ``host/health``: probe summary, mode, running workers.

    Wire it into ``host/health`` as ``"sandbox": sandbox_health(ctx.host)`` (the
    probe runs once per process, ~0.1 s, then is cached).
    """
    from llf_sandbox.probe import probe

    python = None
    allow_degraded = False
    workers: dict[str, Any] = {}
    if host is not None:
        runner = host.services.get("tools")
        settings = getattr(runner, "settings", None)
        if settings is not None:
            python = settings.python
            allow_degraded = settings.allow_degraded
        if runner is not None:
            for plugin, worker in runner.workers.workers().items():
                info = worker.info
                workers[plugin] = {
                    "pid": worker.pid,
                    "active_calls": worker.active_calls,
                    "idle_spares": worker.idle_spares,
                    "layers": info.layers if info else {},
                }
        else:
            section = host.config.section("sandbox")
            python = section.get("python")
            allow_degraded = bool(section.get("allow_degraded", False))
    report = probe(python)
    layers = report.layers()
    missing = [name for name, (ok, _why) in layers.items() if not ok and name != "userns"]
    return {
        "layers": {name: ok for name, (ok, _why) in layers.items()},
        "missing": missing,
        "mode": "full" if not missing else ("degraded" if allow_degraded else "refusing"),
        "allow_degraded": allow_degraded,
        "root": report.root,
        "workers": workers,
    }


async def sandbox_section(host: Host) -> DoctorSection:
    """What isolation the tool sandbox gets on this system."""
    import asyncio

    from llf_sandbox.probe import probe

    section = host.config.section("sandbox")
    python = section.get("python")
    allow_degraded = bool(section.get("allow_degraded", False))
    report = await asyncio.get_running_loop().run_in_executor(None, probe, python)
    rows: list[DoctorRow] = []
    if "error" in report.raw:
        rows.append(DoctorRow("probe", str(report.raw["error"])[:300], False))
    raw = report.raw
    rows.append(
        DoctorRow(
            "system",
            f"{raw.get('platform')} {raw.get('kernel', '')} {raw.get('arch', '')}, "
            f"{'root' if report.root else 'unprivileged'}, python {raw.get('python', '?')}",
        )
    )
    missing: list[str] = []
    for name, (ok, why) in report.layers().items():
        if name == "userns" and report.root:
            rows.append(DoctorRow(name, why if ok else f"unavailable ({why})", None))
            continue
        rows.append(DoctorRow(name, why, ok))
        if not ok and name != "userns":
            missing.append(name)
    if missing:
        verdict = (
            "tools run with reduced isolation ([sandbox] allow_degraded = true)"
            if allow_degraded
            else "tools are refused until the missing layers are available, or "
            "[sandbox] allow_degraded = true"
        )
        rows.append(DoctorRow("verdict", verdict, False))
    else:
        rows.append(DoctorRow("verdict", "every isolation layer is available", True))
    return DoctorSection(
        title="Tool sandbox",
        rows=rows,
        status="ok" if not missing else "warning",
        data=report.as_dict(),
    )
