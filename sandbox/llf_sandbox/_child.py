"""The per-call child: confine this process, wait for one call, run it, send one frame.

Standard library only; runs right after ``fork()`` in the warm worker and never
returns (it ends with ``os._exit``). The worker forks a *spare* child before a
call arrives (Android's zygote keeps a pool of such processes for the same
reason): everything that does not depend on the call's arguments happens while
the spare waits, so a call only pays for handing over its pipes, lowering the
rlimits and running the function. The order matters:

Before the call (:func:`run_spare`, in the spare):

1. join the call's pids cgroup (before anything can fork), die with the worker;
2. stdin, stdout and stderr on ``/dev/null`` until the call's pipes arrive;
3. own session; a private mount namespace with a size-capped tmpfs as the
   working directory (or a per-call directory when mounts are unavailable);
4. a scrubbed environment; ``no_new_privs``, not dumpable, capabilities dropped;
5. Landlock (built here because the tmpfs only exists now); every inherited fd
   but the spare's socket closed; seccomp last (it forbids the mount and
   namespace calls used above);

When the call arrives (on the spare's socket, with its three pipe ends):

6. stdout/stderr to the call's pipes, the result pipe on fd 3 (close-on-exec);
7. rlimits (only ever lowered, which needs no privilege); run the function.
"""

# The worker side uses os.path: pathlib (and its imports) would grow the warm
# worker that every call forks from.

from __future__ import annotations

import errno
import fcntl
import os
import resource
import select
import signal
import sys

from . import _landlock
from . import _syscalls
from ._classify import ActionLog
from ._classify import classify_exception
from ._wire import ControlReader
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
    "SparePlan",
    "WorkerConfig",
    "install_handlers",
    "run_spare",
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


class SparePlan:
    """What a spare child is prepared with before any call reaches it.

    Only the two limits that must be fixed before confinement shape a spare: the
    tmpfs size here and the cgroup's ``pids.max`` (set on the cgroup behind
    ``cgroup_fd``); see :func:`llf_sandbox._wire.spare_key`.
    """

    def __init__(
        self,
        sock: socket.socket,
        *,
        cgroup_fd: int | None,
        workdir: str,
        workdir_mb: float,
    ) -> None:
        self.sock = sock
        self.cgroup_fd = cgroup_fd
        self.workdir = workdir
        self.workdir_mb = workdir_mb


class ChildPlan:
    """One call as the child sees it."""

    def __init__(self, call: dict[str, Any], fds: list[int], *, workdir: str) -> None:
        self.call_id = int(call["id"])
        self.function = str(call["function"])
        self.args: dict[str, Any] = call.get("args") or {}
        self.limits: dict[str, float] = call.get("limits") or {}
        self.result_fd, self.stdout_fd, self.stderr_fd = fds
        self.workdir = workdir
        #: Where the result frame goes right now (moves to fd 3 once stdio is set up).
        self.active_result_fd = self.result_fd


def _limit(plan: ChildPlan, name: str, default: float) -> float:
    value = plan.limits.get(name)
    return float(value) if value else default


def _quiet_stdio(config: WorkerConfig) -> None:
    """Until the call's pipes arrive, stdio is ``/dev/null`` (never the worker's)."""
    if config.control is not None:
        config.control.detach()  # its fd is closed below; never let GC close a reused number
    devnull = config.devnull if config.devnull is not None else os.open("/dev/null", os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)


def _attach_pipes(plan: ChildPlan) -> None:
    """stdout and stderr to the call's pipes, the result pipe on fd 3 (close-on-exec)."""
    # The received fds may sit anywhere (even on 3): lift them above the targets first.
    received = (plan.result_fd, plan.stdout_fd, plan.stderr_fd)
    result, out, err = (fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, RESULT_FD + 1) for fd in received)
    for fd in received:
        os.close(fd)
    os.dup2(out, 1)
    os.dup2(err, 2)
    os.dup2(result, RESULT_FD, inheritable=False)
    for fd in (result, out, err):
        os.close(fd)
    plan.active_result_fd = RESULT_FD


def _setup_workdir(spare: SparePlan, config: WorkerConfig) -> None:
    if config.mount_workdir:
        _syscalls.unshare(_syscalls.CLONE_NEWNS)
        size_mb = max(1, int(spare.workdir_mb or 128))
        inodes = max(64, min(65536, size_mb * 128))
        _syscalls.mount(
            "tmpfs",
            spare.workdir,
            "tmpfs",
            _syscalls.MS_NOSUID | _syscalls.MS_NODEV,
            f"size={size_mb}m,nr_inodes={inodes},mode=0700",
        )
    os.chdir(spare.workdir)


def _lower(kind: int, soft: int, hard: int | None = None) -> None:
    """Set a limit, never above the current hard limit (raising it needs a
    privilege the spare has already dropped; the system's cap then holds)."""
    _old_soft, old_hard = resource.getrlimit(kind)
    hard = soft if hard is None else hard
    if old_hard != resource.RLIM_INFINITY:
        soft, hard = min(soft, old_hard), min(hard, old_hard)
    resource.setrlimit(kind, (soft, hard))


def _setup_rlimits(plan: ChildPlan, config: WorkerConfig) -> None:
    cpu = max(1, int(-(-_limit(plan, "cpu_s", 30) // 1)))
    _lower(resource.RLIMIT_CPU, cpu, cpu + 1)
    _lower(resource.RLIMIT_AS, int(_limit(plan, "memory_mb", 4096) * _MB))
    _lower(resource.RLIMIT_FSIZE, int(_limit(plan, "file_size_mb", 64) * _MB))
    _lower(resource.RLIMIT_NOFILE, int(_limit(plan, "open_files", 256)))
    _lower(resource.RLIMIT_CORE, 0)
    if config.set_nproc:
        # Unprivileged without a pids cgroup: per-uid and host-wide, documented as weak.
        _lower(resource.RLIMIT_NPROC, int(_limit(plan, "processes", 64)))


def _setup_privileges(config: WorkerConfig) -> None:
    _syscalls.prctl(_syscalls.PR_SET_NO_NEW_PRIVS, 1)
    _syscalls.prctl(_syscalls.PR_SET_DUMPABLE, 0)
    if config.privileged:
        _syscalls.drop_capabilities()


def _setup_landlock(workdir: str, config: WorkerConfig) -> None:
    if config.landlock_fd is not None:
        _landlock.restrict_self(config.landlock_fd)
        return
    if config.landlock_abi <= 0 or config.landlock_rules is None:
        return
    fd = _landlock.build_ruleset(
        config.landlock_abi,
        config.landlock_rules,
        extra_write=[workdir],
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


def _close_all_but(keep: int) -> None:
    """Close every fd above stdio except ``keep`` (the spare's socket: the call comes on it)."""
    os.closerange(3, keep)
    os.closerange(keep + 1, 1 << 20)


def _prepare_spare(spare: SparePlan, config: WorkerConfig) -> None:
    if spare.cgroup_fd is not None:
        os.write(spare.cgroup_fd, b"0")
    _syscalls.prctl(_syscalls.PR_SET_PDEATHSIG, signal.SIGKILL)
    if config.worker_pidfd is not None:
        ready, _, _ = select.select([config.worker_pidfd], [], [], 0)
        if ready:  # the worker died before PDEATHSIG was armed
            os._exit(1)
    _quiet_stdio(config)
    os.setsid()
    _setup_workdir(spare, config)
    if not config.env_ready:
        os.environ.clear()
        os.environ.update(config.env)
    if os.environ.get("HOME") != spare.workdir:
        os.environ["HOME"] = os.environ["TMPDIR"] = spare.workdir
    _setup_privileges(config)
    _setup_landlock(spare.workdir, config)
    # Only now: the prepared Landlock fds were needed until here.
    _close_all_but(spare.sock.fileno())
    if config.seccomp_install is not None:
        config.seccomp_install()
    if not config.handlers_ready:
        install_handlers()


_REHEARSAL_CALL: dict[str, Any] = {
    "id": 0,
    "function": "",
    "args": {"text": "x", "n": 1, "f": 0.5, "items": [None, True, {"k": "v"}]},
    "limits": {"cpu_s": 1.0, "memory_mb": 1.0},
    "fds": 0,
}


def _rehearse(config: WorkerConfig) -> None:
    """Walk, once, the path every call takes, without running a tool.

    The spare shares its memory with the worker until it writes to a page, and
    Python writes reference counts all over. Walking the common path now moves
    most of those copy-on-write faults (about 100 of 150) out of the call's time.
    """
    reader = ControlReader()
    reader.feed(encode_frame(encode_json(_REHEARSAL_CALL)), [])
    for message, _fds in reader.messages():
        plan = ChildPlan(message, [-1, -1, -1], workdir=config.workdir)
        _limit(plan, "cpu_s", 30)
        config.functions.get(plan.function)
    encode_frame(encode_json({"ok": True, "result": _REHEARSAL_CALL["args"]}))
    for kind in (resource.RLIMIT_CPU, resource.RLIMIT_AS, resource.RLIMIT_NOFILE):
        resource.getrlimit(kind)
    fcntl.fcntl(0, fcntl.F_GETFD)
    if config.actions is not None:
        config.actions.reset()
    sys.getrecursionlimit()


def _receive_call(sock: socket.socket) -> tuple[dict[str, Any], list[int]] | None:
    """Block until the worker hands over a call (None: the worker let the spare go)."""
    reader = ControlReader()
    while True:
        try:
            data, ancdata, _flags, _addr = sock.recvmsg(1 << 16, ControlReader.ancillary_size())
        except InterruptedError:
            continue
        if not data:
            return None
        reader.feed(data, ancdata)
        for message, fds in reader.messages():
            return message, fds


def _describe(exc: BaseException) -> str:
    import traceback

    return "".join(traceback.format_exception_only(exc)).strip()


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


def run_spare(spare: SparePlan, config: WorkerConfig) -> NoReturn:
    """Confine this (freshly forked) process, wait for a call, run it, and exit."""
    code = EXIT_SETUP
    try:
        code = _serve(spare, config)
    finally:
        os._exit(code)


def _serve(spare: SparePlan, config: WorkerConfig) -> int:
    setup_error: str | None = None
    try:
        _prepare_spare(spare, config)
    except BaseException as exc:  # noqa: BLE001 - reported once the call arrives
        setup_error = _describe(exc)
        # Hold nothing of the worker's while waiting (its control socket included).
        _close_all_but(spare.sock.fileno())
    if setup_error is None:
        try:
            _rehearse(config)
        except Exception:  # noqa: BLE001 - an optimisation; the call will tell
            pass
    received = _receive_call(spare.sock)
    if received is None:
        return 0
    plan = ChildPlan(*received, workdir=spare.workdir)
    spare.sock.close()
    try:
        _attach_pipes(plan)
        if setup_error is None:
            _setup_rlimits(plan, config)
    except BaseException as exc:  # noqa: BLE001 - reported as setup_failed
        setup_error = setup_error or _describe(exc)
    if setup_error is not None:
        failure = {"ok": False, "error": {"kind": "setup_failed", "message": setup_error}}
        try:
            write_all(plan.active_result_fd, encode_frame(encode_json(failure)))
        except OSError:
            pass
        return EXIT_SETUP
    try:
        code = _invoke(plan, config)
    except OSError as exc:
        code = 74 if exc.errno in (errno.EPIPE, errno.EBADF) else 75
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except BaseException:  # noqa: BLE001 - exiting anyway
        pass
    return code
