"""The per-call child: confine this process, run one tool function, send one frame.

Standard library only; runs right after ``fork()`` in the warm worker and never
returns (it ends with ``os._exit``). The order matters:

1. join the call's pids cgroup (before anything can fork), die with the worker;
2. stdio: stdin ``/dev/null``, stdout/stderr to the call's pipes, the result
   pipe on fd 3 (close-on-exec); every other inherited fd closed;
3. own session; a private mount namespace with a size-capped tmpfs as the
   working directory (or a per-call directory when mounts are unavailable);
4. rlimits; a scrubbed environment;
5. ``no_new_privs``, not dumpable, capabilities dropped;
6. Landlock (built here because the tmpfs only exists now), then seccomp last
   (it forbids the mount and namespace calls used above).
"""

# The worker side uses os.path: pathlib (and its imports) would grow the warm
# worker that every call forks from.

from __future__ import annotations

import errno
import os
import resource
import select
import signal
import sys

from . import _landlock
from . import _syscalls
from ._classify import ActionLog
from ._classify import classify_exception
from ._wire import encode_frame
from ._wire import encode_json
from ._wire import write_all

TYPE_CHECKING = False
if TYPE_CHECKING:
    import socket
    from collections.abc import Callable
    from typing import Any
    from typing import NoReturn

__all__ = [
    "EXIT_CPU",
    "EXIT_SETUP",
    "EXIT_TERM",
    "ChildPlan",
    "WorkerConfig",
    "install_handlers",
    "run_call",
]

#: Exit code when the CPU soft limit fired (SIGXCPU handler).
EXIT_CPU = 152
#: Exit code when SIGTERM arrived (we are pid 1 of the call: no default action).
EXIT_TERM = 143
#: Exit code when the sandbox could not be set up (a frame says why).
EXIT_SETUP = 70
RESULT_FD = 3
_MB = 1024 * 1024


class WorkerConfig:
    """What the warm worker prepared once, shared by every call it forks."""

    def __init__(self) -> None:
        self.functions: dict[str, Callable[..., Any]] = {}
        self.import_errors: dict[str, str] = {}
        #: Mount point of the per-call tmpfs (or the parent of per-call dirs).
        self.workdir = ""
        self.mount_workdir = False
        self.privileged = False
        self.landlock_abi = 0
        self.landlock_rules: _landlock.PreparedRules | None = None
        self.read_paths: list[str] = []
        self.write_paths: list[str] = []
        self.connect_ports: list[int] | None = []
        self.network_granted = False
        self.destination_grants: list[tuple[str, int | None]] | None = None
        #: Installs the prepared seccomp filter (None: no filter).
        self.seccomp_install: Callable[[], None] | None = None
        #: A ruleset built once by the worker (tmpfs mode), else rules built per call.
        self.landlock_fd: int | None = None
        self.devnull: int | None = None
        self.env: dict[str, str] = {}
        #: The worker's own environment already is ``env`` (+ HOME/TMPDIR): skip the
        #: rewrite, which costs ~0.4 ms of copy-on-write faults in a forked child.
        self.env_ready = False
        self.handlers_ready = False
        #: The audit hook, installed once by the worker (reset by each call).
        self.actions: ActionLog | None = None
        self.worker_pidfd: int | None = None
        self.control: socket.socket | None = None
        self.set_nproc = False


class ChildPlan:
    """One call as the child sees it."""

    def __init__(
        self,
        call: dict[str, Any],
        fds: list[int],
        *,
        cgroup_fd: int | None,
        workdir: str,
    ) -> None:
        self.call_id = int(call["id"])
        self.function = str(call["function"])
        self.args: dict[str, Any] = call.get("args") or {}
        self.limits: dict[str, float] = call.get("limits") or {}
        self.result_fd, self.stdout_fd, self.stderr_fd = fds
        self.cgroup_fd = cgroup_fd
        self.workdir = workdir
        #: Where the result frame goes right now (moves to fd 3 once stdio is set up).
        self.active_result_fd = self.result_fd


def _limit(plan: ChildPlan, name: str, default: float) -> float:
    value = plan.limits.get(name)
    return float(value) if value else default


def _setup_stdio(plan: ChildPlan, config: WorkerConfig) -> None:
    if config.control is not None:
        config.control.detach()  # its fd is closed below; never let GC close a reused number
    devnull = config.devnull if config.devnull is not None else os.open("/dev/null", os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(plan.stdout_fd, 1)
    os.dup2(plan.stderr_fd, 2)
    os.dup2(plan.result_fd, RESULT_FD, inheritable=False)
    plan.active_result_fd = RESULT_FD


def _setup_workdir(plan: ChildPlan, config: WorkerConfig) -> None:
    if config.mount_workdir:
        _syscalls.unshare(_syscalls.CLONE_NEWNS)
        size_mb = max(1, int(_limit(plan, "workdir_mb", 128)))
        inodes = max(64, min(65536, size_mb * 128))
        _syscalls.mount(
            "tmpfs",
            plan.workdir,
            "tmpfs",
            _syscalls.MS_NOSUID | _syscalls.MS_NODEV,
            f"size={size_mb}m,nr_inodes={inodes},mode=0700",
        )
    os.chdir(plan.workdir)


def _setup_rlimits(plan: ChildPlan, config: WorkerConfig) -> None:
    cpu = max(1, int(-(-_limit(plan, "cpu_s", 30) // 1)))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    memory = int(_limit(plan, "memory_mb", 4096) * _MB)
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    fsize = int(_limit(plan, "file_size_mb", 64) * _MB)
    resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
    nofile = int(_limit(plan, "open_files", 256))
    resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if config.set_nproc:
        # Unprivileged without a pids cgroup: per-uid and host-wide, documented as weak.
        procs = int(_limit(plan, "processes", 64))
        resource.setrlimit(resource.RLIMIT_NPROC, (procs, procs))


def _setup_privileges(config: WorkerConfig) -> None:
    _syscalls.prctl(_syscalls.PR_SET_NO_NEW_PRIVS, 1)
    _syscalls.prctl(_syscalls.PR_SET_DUMPABLE, 0)
    if config.privileged:
        _syscalls.drop_capabilities()


def _setup_landlock(plan: ChildPlan, config: WorkerConfig) -> None:
    if config.landlock_fd is not None:
        _landlock.restrict_self(config.landlock_fd)
        return
    if config.landlock_abi <= 0 or config.landlock_rules is None:
        return
    fd = _landlock.build_ruleset(
        config.landlock_abi,
        config.landlock_rules,
        extra_write=[plan.workdir],
        connect_ports=config.connect_ports,
    )
    try:
        _landlock.restrict_self(fd)
    finally:
        os.close(fd)


def install_handlers() -> None:
    """SIGXCPU and SIGTERM end the call with a telling exit code (pid 1 has no
    default action for them). The worker installs them once; children inherit."""
    signal.signal(signal.SIGXCPU, _on_cpu_limit)
    signal.signal(signal.SIGTERM, _on_term)


def _on_cpu_limit(_signum: int, _frame: object) -> None:
    os._exit(EXIT_CPU)


def _on_term(_signum: int, _frame: object) -> None:
    os._exit(EXIT_TERM)


def _prepare(plan: ChildPlan, config: WorkerConfig) -> None:
    if plan.cgroup_fd is not None:
        os.write(plan.cgroup_fd, b"0")
    _syscalls.prctl(_syscalls.PR_SET_PDEATHSIG, signal.SIGKILL)
    if config.worker_pidfd is not None:
        ready, _, _ = select.select([config.worker_pidfd], [], [], 0)
        if ready:  # the worker died before PDEATHSIG was armed
            os._exit(1)
    _setup_stdio(plan, config)
    os.setsid()
    _setup_workdir(plan, config)
    _setup_rlimits(plan, config)
    if not config.env_ready:
        os.environ.clear()
        os.environ.update(config.env)
    if os.environ.get("HOME") != plan.workdir:
        os.environ["HOME"] = os.environ["TMPDIR"] = plan.workdir
    _setup_privileges(config)
    _setup_landlock(plan, config)
    # Only now: the prepared Landlock fds were needed until here.
    os.closerange(RESULT_FD + 1, 1 << 20)
    if config.seccomp_install is not None:
        config.seccomp_install()
    if not config.handlers_ready:
        install_handlers()


def _send(payload: dict[str, Any], cap: int) -> None:
    try:
        data = encode_json(payload)
    except (TypeError, ValueError, RecursionError) as exc:
        data = encode_json(
            {
                "ok": False,
                "error": {"kind": "bad_result", "message": f"{type(exc).__name__}: {exc}"},
            }
        )
    if len(data) > cap:
        data = encode_json(
            {
                "ok": False,
                "error": {"kind": "output_too_large", "stream": "result", "size": len(data)},
            }
        )
    write_all(RESULT_FD, encode_frame(data))


def _invoke(plan: ChildPlan, config: WorkerConfig) -> int:
    cap = int(_limit(plan, "output_kb", 1024) * 1024)
    func = config.functions.get(plan.function)
    if func is None:
        reason = config.import_errors.get(plan.function, "not imported by this worker")
        _send({"ok": False, "error": {"kind": "import_failed", "message": reason}}, cap)
        return 0
    actions = config.actions
    if actions is None:
        actions = ActionLog(config.destination_grants if config.network_granted else None)
        actions.install()
    actions.reset()
    try:
        value = func(**plan.args)
        if hasattr(value, "__await__"):
            import asyncio

            async def wait() -> Any:
                return await value

            value = asyncio.run(wait())
    except BaseException as exc:  # noqa: BLE001 - whatever the tool raised becomes a frame
        error = classify_exception(
            exc,
            actions,
            read_roots=config.read_paths,
            write_roots=[plan.workdir, *config.write_paths],
            network_granted=config.network_granted,
        )
        _send({"ok": False, "error": error}, cap)
        return 0
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 1000))
    _send({"ok": True, "result": value}, cap)
    return 0


def run_call(plan: ChildPlan, config: WorkerConfig) -> NoReturn:
    """Confine this (freshly forked) process, run the call, and exit."""
    code = EXIT_SETUP
    try:
        try:
            _prepare(plan, config)
        except BaseException as exc:  # noqa: BLE001 - reported as setup_failed
            import traceback

            detail = "".join(traceback.format_exception_only(exc)).strip()
            try:
                write_all(
                    plan.active_result_fd,
                    encode_frame(
                        encode_json(
                            {"ok": False, "error": {"kind": "setup_failed", "message": detail}}
                        )
                    ),
                )
            except OSError:
                pass
            os._exit(EXIT_SETUP)
        try:
            code = _invoke(plan, config)
        except OSError as exc:
            code = 74 if exc.errno in (errno.EPIPE, errno.EBADF) else 75
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        except BaseException:  # noqa: BLE001 - exiting anyway
            pass
    finally:
        os._exit(code)
