"""What a call ended with, decided from the frame, the exit status and the limits.

:func:`interpret` is pure: given the bytes of the result channel, the wait
status and what the host did (timeout kill, output cap kill), it returns a
:class:`CallOutcome`. The host maps ``status`` to its own error classes.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
from typing import Any
from typing import Literal

from ._limits import Limits
from ._wire import HEADER

__all__ = ["CallOutcome", "FrameState", "OutcomeStatus", "interpret"]

OutcomeStatus = Literal[
    "ok",
    "raised",
    "timeout",
    "resource_limit",
    "crashed",
    "denied",
    "output_too_large",
    "unavailable",
]

_EXIT_CPU = 152
_EXIT_TERM = 143
_EXIT_SETUP = 70


@dataclasses.dataclass
class CallOutcome:
    """The end of one call. ``result`` is set only when ``status == "ok"``."""

    status: OutcomeStatus
    result: Any = None
    message: str = ""
    hint: str | None = None
    detail: dict[str, Any] = dataclasses.field(default_factory=dict)
    stdout: str = ""
    stderr: str = ""
    duration_ms: float = 0.0
    cpu_s: float = 0.0
    maxrss_kb: int = 0
    #: Milliseconds from fork to reap, measured in the worker.
    child_ms: float = 0.0
    limits_hit: list[str] = dataclasses.field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when the tool returned a value."""
        return self.status == "ok"


@dataclasses.dataclass
class FrameState:
    """What arrived on the result channel."""

    data: bytes = b""
    #: The declared length exceeded the cap (value: the declared length).
    oversized: int | None = None


def _decode_frame(frame: FrameState) -> tuple[dict[str, Any] | None, str | None]:
    data = frame.data
    if len(data) < HEADER.size:
        return None, "no result frame" if not data else "truncated result frame"
    (length,) = HEADER.unpack_from(data)
    body = data[HEADER.size : HEADER.size + length]
    if len(body) < length:
        return None, "truncated result frame"
    if len(data) > HEADER.size + length:
        return None, "extra bytes after the result frame (more than one frame, or garbage)"
    try:
        payload = json.loads(body.decode("utf-8"), parse_constant=_refuse_constant)
    except (UnicodeDecodeError, ValueError) as exc:
        return None, f"result frame is not strict JSON ({exc})"
    if not isinstance(payload, dict) or not isinstance(payload.get("ok"), bool):
        return None, "result frame has the wrong shape"
    return payload, None


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


_LIMIT_WORDS = {
    "memory_mb": ("memory", "raise limits.memory_mb for this tool, or use less memory"),
    "recursion": (
        "recursion depth",
        "the tool recursed too deeply; make it iterative or bound the input",
    ),
    "file_size_mb": ("file size", "raise limits.file_size_mb, or write smaller files"),
    "workdir_mb": (
        "working directory size",
        "raise limits.workdir_mb, or write less to the working directory",
    ),
    "open_files": ("open files", "raise limits.open_files, or close files sooner"),
    "processes": ("process count", "raise limits.processes, or start fewer processes/threads"),
}


def _limit_outcome(limit: str, tool: str) -> CallOutcome:
    words, hint = _LIMIT_WORDS.get(limit, (limit, f"raise limits.{limit}"))
    return CallOutcome(
        "resource_limit",
        message=f"tool {tool!r} hit its {words} limit",
        hint=hint,
        detail={"limit": limit},
        limits_hit=[limit],
    )


def _from_error(error: dict[str, Any], tool: str) -> CallOutcome:
    kind = error.get("kind")
    if kind == "resource_limit":
        return _limit_outcome(str(error.get("limit", "unknown")), tool)
    if kind == "denied":
        what = str(error.get("what", "action"))
        detail = {k: v for k, v in error.items() if k not in ("kind",)}
        if what == "filesystem":
            target = f"{error.get('access', 'access')} {error.get('path')}"
        else:
            host, port = error.get("host"), error.get("port")
            target = f"connect to {host}:{port}" if host else "open a network socket"
        return CallOutcome(
            "denied",
            message=f"the sandbox refused tool {tool!r} to {target}",
            detail=detail,
        )
    if kind == "output_too_large":
        return CallOutcome(
            "output_too_large",
            message=f"tool {tool!r} returned a result of {error.get('size')} bytes, over the cap",
            hint="raise limits.output_kb for this tool, or return less",
            detail={"stream": "result", "size": error.get("size")},
            limits_hit=["output_kb"],
        )
    if kind == "bad_result":
        return CallOutcome(
            "crashed",
            message=f"tool {tool!r} returned a value that is not JSON: {error.get('message')}",
            hint="return dict, list, str, int, float (finite), bool or None",
            detail={"reason": "bad_result"},
        )
    if kind == "import_failed":
        return CallOutcome(
            "crashed",
            message=f"tool {tool!r} could not be imported in the sandbox worker",
            hint="tool modules may import only the standard library and modules of their "
            "own plugin (relatively); see the traceback in data.traceback",
            detail={"reason": "import_failed", "traceback": str(error.get("message", ""))},
        )
    if kind == "setup_failed":
        return CallOutcome(
            "unavailable",
            message=f"the sandbox could not be set up for tool {tool!r}: {error.get('message')}",
            hint="run `llf-host doctor` to see which isolation layers this system offers",
            detail={"reason": "setup_failed"},
        )
    exception = str(error.get("exception", "Exception"))
    return CallOutcome(
        "raised",
        message=f"tool {tool!r} raised {exception}: {error.get('message', '')}",
        detail={
            "exception": exception,
            "traceback": str(error.get("traceback", "")),
        },
    )


def interpret(
    *,
    tool: str,
    frame: FrameState,
    status: int | None,
    cpu_s: float,
    limits: Limits,
    killed_for: str | None,
    processes_limit_hit: bool = False,
    workdir_limit_hit: bool = False,
) -> CallOutcome:
    """Decide the outcome of a finished call (see the module docstring)."""
    outcome = _interpret(
        tool=tool,
        frame=frame,
        status=status,
        cpu_s=cpu_s,
        limits=limits,
        killed_for=killed_for,
        workdir_limit_hit=workdir_limit_hit,
    )
    if processes_limit_hit and "processes" not in outcome.limits_hit:
        outcome.limits_hit.append("processes")
    outcome.cpu_s = cpu_s
    return outcome


def _interpret(
    *,
    tool: str,
    frame: FrameState,
    status: int | None,
    cpu_s: float,
    limits: Limits,
    killed_for: str | None,
    workdir_limit_hit: bool,
) -> CallOutcome:
    if killed_for == "timeout":
        return CallOutcome(
            "timeout",
            message=f"tool {tool!r} ran past its {limits.timeout_s:g} s time limit and was killed",
            hint="raise limits.timeout_s for this tool, or make the call do less",
            detail={"limit": "timeout_s", "seconds": limits.timeout_s},
            limits_hit=["timeout_s"],
        )
    if killed_for in ("stdout", "stderr"):
        return CallOutcome(
            "output_too_large",
            message=f"tool {tool!r} wrote more than {limits.output_kb} KiB to {killed_for} "
            "and was killed",
            hint="print less (the result is the return value, not stdout), or raise "
            "limits.output_kb",
            detail={"stream": killed_for, "limit_kb": limits.output_kb},
            limits_hit=["output_kb"],
        )
    if frame.oversized is not None:
        # The child's own wrapper never sends a frame over the cap (it sends an
        # output_too_large error instead), so this header was forged or garbage.
        return CallOutcome(
            "crashed",
            message=f"tool {tool!r} wrote an invalid frame on the result channel "
            f"(declared {frame.oversized} bytes, cap {limits.output_kb} KiB) and was killed",
            hint="a tool returns its result; it must not write to the result channel (fd 3)",
            detail={"reason": "invalid_frame", "declared": frame.oversized},
        )
    if workdir_limit_hit:
        return _limit_outcome("workdir_mb", tool)
    payload, problem = _decode_frame(frame)
    exited_ok = status is not None and os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
    setup_failed = (
        status is not None and os.WIFEXITED(status) and os.WEXITSTATUS(status) == _EXIT_SETUP
    )
    if payload is not None and (exited_ok or setup_failed):
        if payload["ok"]:
            return CallOutcome("ok", result=payload.get("result"))
        error = payload.get("error")
        return _from_error(error if isinstance(error, dict) else {}, tool)
    return _from_status(tool, status, cpu_s, limits, problem)


def _from_status(
    tool: str, status: int | None, cpu_s: float, limits: Limits, problem: str | None
) -> CallOutcome:
    cpu_limit = limits.effective_cpu_s
    if status is None:
        return CallOutcome(
            "crashed",
            message=f"the sandbox worker for tool {tool!r} died during the call",
            hint="see the host log; the worker is restarted on the next call",
            detail={"reason": "worker_died"},
        )
    if os.WIFSIGNALED(status):
        signum = os.WTERMSIG(status)
        if signum == signal.SIGXCPU or (signum == signal.SIGKILL and cpu_s >= cpu_limit - 0.05):
            return _cpu_timeout(tool, cpu_limit)
        if signum == signal.SIGXFSZ:
            return _limit_outcome("file_size_mb", tool)
        name = _signal_name(signum)
        hints: dict[int, str] = {
            signal.SIGSEGV: "a segmentation fault: a C extension or ctypes call crashed, or "
            "deep recursion overflowed the stack",
            signal.SIGKILL: "killed from outside; the system may be out of memory",
            signal.SIGABRT: "the process aborted (a failed C assertion or a fatal Python error)",
        }
        hint = hints.get(signum, "see data.stderr for what the tool printed")
        return CallOutcome(
            "crashed",
            message=f"tool {tool!r} was killed by {name}",
            hint=hint,
            detail={"signal": signum, "signal_name": name},
        )
    code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else -1
    if code == _EXIT_CPU:
        return _cpu_timeout(tool, cpu_limit)
    if code == 0:
        return CallOutcome(
            "crashed",
            message=f"tool {tool!r} did not send a valid result ({problem})",
            hint="a tool returns its result; it must not write to fd 3 or exit the process",
            detail={"reason": "invalid_frame", "problem": problem, "exit_code": 0},
        )
    return CallOutcome(
        "crashed",
        message=f"tool {tool!r} exited with status {code} without a result",
        hint="see data.stderr for what it printed",
        detail={"exit_code": code, "problem": problem},
    )


def _cpu_timeout(tool: str, cpu_limit: float) -> CallOutcome:
    return CallOutcome(
        "timeout",
        message=f"tool {tool!r} used its {cpu_limit:g} s of CPU time and was stopped",
        hint="raise limits.cpu_s for this tool, or make the call do less",
        detail={"limit": "cpu_s", "seconds": cpu_limit},
        limits_hit=["cpu_s"],
    )
