"""The host's tool runner: validate, admit, approve, run in the sandbox, audit.

``host.services["tools"]`` holds one :class:`ToolRunner`, created on first use
by :func:`get_tool_runner`. A call goes through, in order:

1. lookup (:class:`~llf_host.ToolNotFoundError`);
2. JSON Schema validation with jsonschema, before anything runs
   (:class:`~llf_host.ToolArgumentsInvalid` with the path and reason);
3. the tool's token bucket (:class:`~llf_host.RateLimitedError`, fails fast);
4. approval for ``confirm = true`` tools (:class:`~llf_host.ToolDenied`);
5. a concurrency slot of the tool (waits);
6. the plugin's warm worker (started on first use; refused when an isolation
   layer is missing, unless ``[sandbox] allow_degraded``), then the call;
7. an audit event ``tool.call`` whatever happened.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from typing import TYPE_CHECKING
from typing import Any
from typing import final

import msgspec
from msgspec import structs

from llf_sandbox import CallOutcome
from llf_sandbox import Limits

from .._contracts import Tool
from .._errors import LLMError
from .._errors import RateLimitedError
from .._errors import ToolArgumentsInvalid
from .._errors import ToolDenied
from .._registry import Entry
from ._approval import ApprovalRequest
from ._approval import Approver
from ._grants import EffectiveGrants
from ._limiter import ToolGate
from ._mapping import error_for
from ._settings import SandboxSettings
from ._settings import load_settings
from ._workers import WorkerPool
from ._workers import required_layers

if TYPE_CHECKING:
    from .._host import Host

__all__ = ["ToolResult", "ToolRunner", "get_tool_runner"]

log = logging.getLogger("llf.tools")


class ToolResult(msgspec.Struct, omit_defaults=True):
    """A successful call: the value, plus what the tool printed (tails only)."""

    name: str
    result: Any
    duration_ms: float
    stdout: str = ""
    stderr: str = ""


def _digest(arguments: dict[str, Any]) -> str:
    canonical = json.dumps(arguments, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


@final
class ToolRunner:
    """Runs registered tools in the sandbox (see the module docstring)."""

    def __init__(self, host: Host) -> None:
        self.host = host
        self.settings: SandboxSettings = load_settings(host.config)
        self.workers = WorkerPool(host, self.settings, audit=host.audit)
        self._gates: dict[str, ToolGate] = {}
        self._validators: dict[int, tuple[Tool, Any]] = {}
        self._closed = False

    # -- what is registered --------------------------------------------------------
    def limits_for(self, tool: Tool) -> Limits:
        """Defaults < ``[sandbox.limits]`` < the plugin's limits < ``[sandbox.tools.<n>]``."""
        return self.settings.limits_for(tool)

    def effective_tool(self, tool: Tool) -> Tool:
        """``tool`` with the user's ``confirm``/``log_arguments`` overrides applied."""
        override = self.settings.tool(tool.name)
        return structs.replace(
            tool,
            confirm=tool.confirm if override.confirm is None else override.confirm,
            log_arguments=(
                tool.log_arguments if override.log_arguments is None else override.log_arguments
            ),
        )

    def describe(self, entry: Entry[Tool]) -> dict[str, Any]:
        """JSON-ready description of one tool (``tools list``, ``tools/list``)."""
        tool = self.effective_tool(entry.obj)
        limits = self.limits_for(tool)
        concurrency, rate = self._admission(tool)
        grants = self.workers.grants_for(entry.plugin)
        return {
            "name": tool.name,
            "plugin": entry.plugin,
            "description": tool.description,
            "parameters": tool.parameters,
            "confirm": tool.confirm,
            "permissions": grants.describe(),
            "limits": {
                "timeout_s": limits.timeout_s,
                "cpu_s": limits.effective_cpu_s,
                "memory_mb": limits.memory_mb,
                "file_size_mb": limits.file_size_mb,
                "workdir_mb": limits.workdir_mb,
                "open_files": limits.open_files,
                "processes": limits.processes,
                "output_kb": limits.output_kb,
            },
            "concurrency": concurrency,
            "rate_per_minute": rate,
        }

    def list_tools(self) -> list[dict[str, Any]]:
        """Every registered tool, sorted by name."""
        return [self.describe(e) for _n, e in sorted(self.host.registry.tools.items())]

    def _admission(self, tool: Tool) -> tuple[int, float | None]:
        override = self.settings.tool(tool.name)
        record = self.host.plugins.get(tool.plugin)
        manifest_settings = (
            record.manifest.tools.get(tool.name) if record and record.manifest else None
        )
        concurrency = override.concurrency or (
            manifest_settings.concurrency if manifest_settings else None
        )
        rate = override.rate_per_minute or (
            manifest_settings.rate_per_minute if manifest_settings else None
        )
        return concurrency or self.settings.concurrency, rate or self.settings.rate_per_minute

    def _gate(self, tool: Tool) -> ToolGate:
        concurrency, rate = self._admission(tool)
        gate = self._gates.get(tool.name)
        if gate is None or not gate.matches(concurrency, rate):
            gate = ToolGate(concurrency, rate)
            self._gates[tool.name] = gate
        return gate

    # -- validation ----------------------------------------------------------------
    def validate(self, tool: Tool, arguments: Any) -> dict[str, Any]:
        """Check ``arguments`` against the tool's schema; raise ToolArgumentsInvalid."""
        if not isinstance(arguments, dict):
            raise ToolArgumentsInvalid(
                f"arguments of tool {tool.name!r} must be a JSON object, "
                f"got {type(arguments).__name__}",
                hint='pass an object such as {"path": "notes.txt"}',
                tool=tool.name,
                path="",
            )
        size = len(json.dumps(arguments, ensure_ascii=False).encode("utf-8"))
        if size > self.settings.max_arguments_kb * 1024:
            raise ToolArgumentsInvalid(
                f"arguments of tool {tool.name!r} are {size} bytes, over the "
                f"{self.settings.max_arguments_kb} KiB cap",
                hint="send less, or raise [sandbox] max_arguments_kb",
                tool=tool.name,
                path="",
            )
        validator = self._validator(tool)
        errors = sorted(validator.iter_errors(arguments), key=lambda e: list(e.path))
        if errors:
            error = errors[0]
            path = "/".join(str(p) for p in error.absolute_path)
            where = f"at /{path}" if path else "at the top level"
            raise ToolArgumentsInvalid(
                f"arguments of tool {tool.name!r} are invalid {where}: {error.message}",
                hint=f"the parameters schema is shown by `llf-host tools list --json` "
                f"(rule: {error.validator})",
                tool=tool.name,
                path=f"/{path}",
                reason=error.message,
                rule=str(error.validator),
            )
        return arguments

    def _validator(self, tool: Tool) -> Any:
        cached = self._validators.get(id(tool))
        if cached is not None and cached[0] is tool:
            return cached[1]
        import jsonschema

        cls = jsonschema.validators.validator_for(tool.parameters, jsonschema.Draft202012Validator)
        validator = cls(tool.parameters)
        self._validators[id(tool)] = (tool, validator)
        return validator

    # -- calling -------------------------------------------------------------------
    async def call(
        self,
        name: str,
        arguments: Any,
        *,
        approver: Approver | None = None,
        request_id: int | str | None = None,
    ) -> ToolResult:
        """Run tool ``name`` with ``arguments``; raise a ToolError subclass on failure.

        :param approver: asked before a ``confirm = true`` tool runs; ``None``
            means nobody can approve, so such tools are denied.
        """
        entry = self.host.registry.tool(name)
        tool = self.effective_tool(entry.obj)
        plugin = entry.plugin
        started = time.perf_counter()
        audit: dict[str, Any] = {"tool": name}
        outcome_word = "error"
        limits_hit: list[str] = []
        try:
            args = self.validate(tool, arguments)
            if tool.log_arguments:
                audit["arguments"] = args
            else:
                audit["arguments_sha256"] = _digest(args)
            gate = self._gate(tool)
            self._take_token(gate, tool)
            if tool.confirm:
                await self._approve(tool, plugin, args, approver, request_id)
            async with gate.slots:
                gate.running += 1
                try:
                    outcome = await self._run(tool, plugin, args)
                finally:
                    gate.running -= 1
            limits_hit = outcome.limits_hit
            audit["cpu_s"] = outcome.cpu_s
            outcome_word = outcome.status
            if not outcome.ok:
                record = self.host.plugins.get(plugin)
                error = error_for(
                    outcome, tool=name, plugin=plugin, manifest=record.manifest if record else None
                )
                if outcome.status == "denied":
                    self.host.audit("sandbox.denied", plugin=plugin, tool=name, **outcome.detail)
                raise error
            return ToolResult(
                name=name,
                result=outcome.result,
                duration_ms=round(outcome.duration_ms, 3),
                stdout=outcome.stdout,
                stderr=outcome.stderr,
            )
        except asyncio.CancelledError:
            outcome_word = "cancelled"
            raise
        except LLMError as exc:
            if outcome_word == "error":
                outcome_word = exc.kind
            raise
        finally:
            self.host.audit(
                "tool.call",
                plugin=plugin,
                **audit,
                outcome=outcome_word,
                duration_ms=round((time.perf_counter() - started) * 1000, 3),
                limits_hit=limits_hit or None,
            )

    def _take_token(self, gate: ToolGate, tool: Tool) -> None:
        if gate.bucket is None:
            return
        wait = gate.bucket.take()
        if wait > 0:
            self.host.audit(
                "rate_limit.denied", plugin=tool.plugin, tool=tool.name, retry_after=wait
            )
            raise RateLimitedError(
                f"tool {tool.name!r} is called too often (limit {gate.rate_per_minute:g} per "
                "minute)",
                hint=f"retry in {wait:.1f} s, or raise rate_per_minute in "
                f"[sandbox.tools.{tool.name}]",
                tool=tool.name,
                retry_after=round(wait, 3),
            )

    async def _approve(
        self,
        tool: Tool,
        plugin: str,
        args: dict[str, Any],
        approver: Approver | None,
        request_id: int | str | None,
    ) -> None:
        grants: EffectiveGrants = self.workers.grants_for(plugin)
        if approver is None:
            self.host.audit("tool.denied", plugin=plugin, tool=tool.name, reason="no_approver")
            raise ToolDenied(
                f"tool {tool.name!r} needs approval (confirm = true) and nobody can give it here",
                hint="call it from a client that answers tools/approve, pass --yes to "
                f"`llf-host tools call`, or set [sandbox.tools.{tool.name}] confirm = false",
                tool=tool.name,
                plugin=plugin,
                reason="no_approver",
            )
        request = ApprovalRequest(
            tool=tool.name,
            plugin=plugin,
            description=tool.description,
            arguments=args,
            permissions=grants.describe(),
            request_id=request_id,
        )
        self.host.audit("tool.approval_requested", plugin=plugin, tool=tool.name)
        try:
            answer = await approver(request)
        except ToolDenied as exc:
            self.host.audit(
                "tool.approval_answered",
                plugin=plugin,
                tool=tool.name,
                approved=False,
                reason=exc.data.get("reason"),
            )
            self.host.audit("tool.denied", plugin=plugin, tool=tool.name, reason="no_approver")
            raise
        self.host.audit(
            "tool.approval_answered",
            plugin=plugin,
            tool=tool.name,
            approved=answer.approved,
            reason=answer.reason,
        )
        if not answer.approved:
            self.host.audit("tool.denied", plugin=plugin, tool=tool.name, reason="refused")
            raise ToolDenied(
                f"the call of tool {tool.name!r} was not approved"
                + (f": {answer.reason}" if answer.reason else ""),
                hint="nothing was run; ask again if that was a mistake",
                tool=tool.name,
                plugin=plugin,
                reason="refused",
            )

    async def _run(self, tool: Tool, plugin: str, args: dict[str, Any]) -> CallOutcome:
        worker, _grants = await self.workers.get(plugin)
        return await worker.call(tool.function, args, self.limits_for(tool), tool=tool.name)

    # -- lifecycle -------------------------------------------------------------------
    async def restart_workers(self, plugin: str) -> None:
        """Restart the plugin's warm worker (hot reload): running calls finish first."""
        await self.workers.restart(plugin)

    async def start_workers(self) -> None:
        """Start every tool plugin's worker now (instead of at its first call)."""
        plugins = {e.plugin for e in self.host.registry.tools.values()}
        for plugin in sorted(plugins):
            try:
                await self.workers.get(plugin)
            except LLMError as exc:
                log.warning("%s", exc)

    def required_layers(self, plugin: str) -> list[str]:
        """The isolation layers tools of ``plugin`` need."""
        return required_layers(self.settings, self.workers.grants_for(plugin))

    async def aclose(self) -> None:
        """Stop every worker (called by ``Host.aclose``)."""
        if self._closed:
            return
        self._closed = True
        await self.workers.aclose()


def get_tool_runner(host: Host) -> ToolRunner:
    """The host's tool runner, created on first use."""
    runner = host.services.get("tools")
    if runner is None:
        runner = ToolRunner(host)
        host.services["tools"] = runner
    assert isinstance(runner, ToolRunner)
    return runner
