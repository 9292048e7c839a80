"""``llf-host plugins check PATH``: validate a plugin before users load it.

Loads the plugin into an isolated host (temporary home, no other plugins) and
reports, each with the fix: manifest errors, import failures and import time,
unknown or missing hooks, invalid contributions (tool schemas that are not valid
JSON Schema, tools whose module imports ``llf_host`` or third-party packages the
sandbox cannot import, tools that use the network without a network permission),
and what the plugin contributes.
"""

from __future__ import annotations

import ast
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from typing import Literal
from typing import final

import msgspec

from ._discovery import candidate_for_path

__all__ = ["CheckReport", "Finding", "check_plugin"]

Severity = Literal["error", "warning", "info"]

_NETWORK_MODULES = {
    "socket",
    "ssl",
    "http",
    "urllib",
    "ftplib",
    "smtplib",
    "telnetlib",
    "asyncio.streams",
}


class Finding(msgspec.Struct):
    """One problem (or fact) found by the check."""

    severity: Severity
    message: str
    fix: str = ""
    file: str | None = None
    line: int | None = None


@final
class CheckReport(msgspec.Struct):
    """Everything ``plugins check`` found."""

    path: str
    name: str | None = None
    version: str | None = None
    import_ms: float | None = None
    contributes: dict[str, list[str]] = msgspec.field(default_factory=dict)
    hooks: list[str] = msgspec.field(default_factory=list)
    findings: list[Finding] = msgspec.field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when there is no error (warnings allowed)."""
        return not any(f.severity == "error" for f in self.findings)


def _imports(source: str) -> list[tuple[str, int]]:
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    found: list[tuple[str, int]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((alias.name, node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.module, node.lineno))
    return found


def _check_tool_module(
    report: CheckReport, root: Path, module: str, tool: str, network_granted: bool
) -> None:
    rel = Path(*module.split("."))
    path = root / rel.with_suffix(".py")
    if not path.is_file():
        path = root / rel / "__init__.py"
    if not path.is_file():
        report.findings.append(
            Finding(
                "error",
                f"tool {tool!r}: its module {module!r} is not a file of the plugin",
                fix="define tool functions in a module inside the plugin folder",
            )
        )
        return
    stdlib = sys.stdlib_module_names
    for name, line in _imports(path.read_text(encoding="utf-8")):
        top = name.split(".")[0]
        if top in {"llf_host", "pluggy", "httpx", "msgspec"}:
            report.findings.append(
                Finding(
                    "error",
                    f"tool {tool!r}: {path.name} imports {name!r}, which the sandbox cannot import",
                    fix="keep tool modules to the standard library; build Tool objects in the "
                    "plugin's entry module instead",
                    file=str(path),
                    line=line,
                )
            )
        elif top not in stdlib:
            report.findings.append(
                Finding(
                    "warning",
                    f"tool {tool!r}: {path.name} imports {name!r}, which is not in the standard "
                    "library; the sandbox runs with `python -I -S` and will not find it",
                    fix="vendor it inside the plugin folder or use the standard library",
                    file=str(path),
                    line=line,
                )
            )
        if not network_granted and (name in _NETWORK_MODULES or top in _NETWORK_MODULES):
            report.findings.append(
                Finding(
                    "error",
                    f"tool {tool!r}: {path.name} uses the network ({name}) but the manifest "
                    "grants no network destination; calls will be denied",
                    fix='add the destinations to [permissions] network = ["host:port"]',
                    file=str(path),
                    line=line,
                )
            )


def _check_schema(report: CheckReport, tool: str, schema: dict[str, Any]) -> None:
    import jsonschema

    try:
        jsonschema.Draft202012Validator.check_schema(schema)
    except jsonschema.SchemaError as exc:
        report.findings.append(
            Finding(
                "error",
                f"tool {tool!r}: its parameters are not a valid JSON Schema: {exc.message}",
                fix="fix the schema passed as parameters=... (see json-schema.org)",
            )
        )
        return
    if schema.get("type") != "object":
        report.findings.append(
            Finding(
                "error",
                f"tool {tool!r}: parameters must be an object schema (type: object)",
                fix='wrap the arguments: {"type": "object", "properties": {...}}',
            )
        )


async def check_plugin(path: Path) -> CheckReport:
    """Check the plugin at ``path`` (a folder with plugin.toml or a ``.py`` file)."""
    from ._plugins import HOOK_NAMES
    from .testing import isolated_host

    path = path.resolve()
    report = CheckReport(path=str(path))
    candidate = candidate_for_path(path, "dir")
    if candidate is None:
        report.findings.append(
            Finding(
                "error",
                f"{path} is not a plugin",
                fix="a plugin is a folder with plugin.toml, or a single .py file",
            )
        )
        return report
    if candidate.error is not None:
        err = candidate.error
        report.findings.append(
            Finding("error", err.message, fix=err.hint or "", file=err.data.get("file"))
        )
        return report
    with tempfile.TemporaryDirectory(prefix="llf-check-") as home:
        started = time.perf_counter()
        async with isolated_host(Path(home), plugins=[path]) as host:
            report.import_ms = round((time.perf_counter() - started) * 1000, 1)
            record = host.plugins.get(candidate.name)
            assert record is not None
            report.name, report.version = record.name, record.version
            report.hooks = record.hooks()
            report.contributes = record.contributions.summary()
            if record.error is not None:
                report.findings.append(
                    Finding(
                        "error",
                        record.error.message,
                        fix=record.error.hint or "",
                        file=record.error.data.get("file"),
                        line=record.error.data.get("line"),
                    )
                )
                return report
            if not report.hooks:
                report.findings.append(
                    Finding(
                        "error",
                        "the plugin implements no hook, so it contributes nothing",
                        fix="decorate functions with @llf_host.hookimpl; known hooks: "
                        + ", ".join(sorted(HOOK_NAMES)),
                    )
                )
            manifest = record.manifest
            assert manifest is not None
            for tool in record.contributions.tools:
                _check_schema(report, tool.name, tool.parameters)
                module = tool.function.partition(":")[0]
                _check_tool_module(
                    report, manifest.root, module, tool.name, bool(manifest.permissions.network)
                )
            for name in manifest.tools:
                if name not in {t.name for t in record.contributions.tools}:
                    report.findings.append(
                        Finding(
                            "warning",
                            f"[tools.{name}] in plugin.toml configures a tool the plugin does "
                            "not contribute",
                            fix="rename the section to match a tool name, or remove it",
                            file=str(manifest.path),
                        )
                    )
            for warning in record.warnings:
                report.findings.append(Finding("warning", warning))
            if report.import_ms is not None and report.import_ms > 500:
                report.findings.append(
                    Finding(
                        "warning",
                        f"loading took {report.import_ms:.0f} ms",
                        fix="import heavy libraries inside the functions that use them",
                    )
                )
    return report
