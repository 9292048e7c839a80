"""The warm worker (fork server) of one tool plugin.

Started by the host as ``python -I -S -c <bootstrap>`` with a scrubbed
environment, it imports only the standard library, this package's child-side
modules and the plugin's tool modules. It is single-threaded: one ``select``
loop over the control socket and one pidfd per running call.

Set-up, once: die with the host; a private mount namespace and an empty network
namespace (when the plugin has no network grant); import the tool functions;
compile the seccomp filter; create the cgroup pool. Per call: ``fork`` (into a
fresh pid namespace, the call being its pid 1, so its exit kills everything it
started) and run :func:`llf_sandbox._child.run_call` in the child.

Control messages (see :mod:`llf_sandbox._wire`)::

    host -> worker  {"op": "init", ...spec}                  (first message)
                    {"op": "call", "id", "function", "args", "limits", "fds": 3}
                    {"op": "signal", "id", "signal"}
                    {"op": "shutdown"}
    worker -> host  {"ev": "ready", "pid", "layers", "imports"}
                    {"ev": "exited", "id", "status", "cpu_s", "maxrss_kb",
                     "processes_limit_hit", "workdir_limit_hit"}
                    {"ev": "failed", "id", "message"}        (could not fork)
"""

# ruff: noqa: PTH102, PTH110, PTH118, PTH120
# The worker side uses os.path: pathlib (and its imports) would grow the warm
# worker that every call forks from.

from __future__ import annotations

import errno
import gc
import os
import select
import signal
import socket
import sys
import time

from . import _landlock
from . import _seccomp
from . import _syscalls
from ._cgroup import CgroupPool
from ._cgroup import CgroupSlot
from ._child import ChildPlan
from ._child import WorkerConfig
from ._child import install_handlers
from ._child import run_call
from ._classify import ActionLog
from ._wire import ControlReader
from ._wire import send_message
from ._worker_setup import Quiet
from ._worker_setup import become_namespace_init
from ._worker_setup import enter_user_namespace
from ._worker_setup import format_exception
from ._worker_setup import high_fd
from ._worker_setup import import_functions
from ._worker_setup import make_box
from ._worker_setup import make_private_mounts
from ._worker_setup import pidns_works
from ._worker_setup import tree_size

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["main"]

_POLL_WORKDIR_S = 0.2


class _Running:
    __slots__ = (
        "call_id",
        "limit_bytes",
        "pid",
        "pidfd",
        "slot",
        "started",
        "workdir",
        "workdir_hit",
    )

    def __init__(
        self, call_id: int, pid: int, pidfd: int, slot: CgroupSlot | None, workdir: str | None
    ) -> None:
        self.call_id = call_id
        self.pid = pid
        self.pidfd = pidfd
        self.slot = slot
        self.workdir = workdir
        self.limit_bytes = 0
        self.workdir_hit = False
        self.started = time.perf_counter()


class Zygote:
    """State and main loop of the warm worker."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.reader = ControlReader()
        self.config = WorkerConfig()
        self.config.control = sock
        self.layers: dict[str, Any] = {}
        self.pool: CgroupPool | None = None
        self.own_pidns: int | None = None
        self.running: dict[int, _Running] = {}
        self.real_root = os.geteuid() == 0
        self.by_id: dict[int, _Running] = {}
        #: Read-only tmpfs holding the per-call mount point (tmpfs mode).
        self.box: str | None = None

    # -- set-up --------------------------------------------------------------------
    def setup(self, spec: dict[str, Any]) -> None:
        """Apply the worker-wide layers, import the tools, report what holds."""
        want: dict[str, bool] = spec.get("layers", {})
        parent = int(spec.get("parent_pid", 0))
        layers = self.layers
        with Quiet(OSError):
            _syscalls.prctl(_syscalls.PR_SET_PDEATHSIG, signal.SIGKILL)
        if parent and os.getppid() != parent:
            os._exit(1)
        privileged = os.geteuid() == 0
        #: Root in the initial user namespace (RLIMIT_NPROC does nothing for it).
        self.real_root = privileged
        if not privileged and want.get("userns", True) and any(want.values()):
            try:
                enter_user_namespace()
                privileged = True
                layers["userns"] = True
            except OSError as exc:
                layers["userns"] = f"unavailable: {exc.strerror}"
        self.config.privileged = privileged
        layers["mountns"] = self._try(want.get("mountns", True), make_private_mounts)
        if want.get("netns", True):
            layers["netns"] = self._try(True, lambda: _syscalls.unshare(_syscalls.CLONE_NEWNET))
        else:
            granted = bool(spec.get("network", {}).get("granted"))
            layers["netns"] = "not requested (network granted)" if granted else "not requested"
        self.config.workdir = str(spec["workdir"])
        self.config.mount_workdir = layers["mountns"] is True and privileged
        if self.config.mount_workdir:
            try:
                self.config.workdir, self.box = make_box(os.path.dirname(self.config.workdir))
            except OSError as exc:
                self.config.mount_workdir = False
                layers["workdir_box"] = f"unavailable: {exc.strerror}"
        layers["workdir"] = "tmpfs" if self.config.mount_workdir else "directory"
        if want.get("pidns", True) and privileged:
            self._setup_pidns(layers)
        layers["pidns"] = self.own_pidns is not None
        self._setup_cgroup(spec, layers)
        import_functions(spec, self.config)
        self._setup_confinement(spec, want, layers)
        self.config.env = dict(spec.get("env", {}))
        os.environ.clear()
        os.environ.update(self.config.env)
        os.environ["HOME"] = os.environ["TMPDIR"] = self.config.workdir
        self.config.env_ready = True
        # SIGTERM to the worker then also ends it at once; its calls die with it
        # (PDEATHSIG), which is what the host wants when it sends one.
        install_handlers()
        self.config.handlers_ready = True
        # The audit hook costs ~0.1 ms to add in a forked child: add it once here.
        # It watches only file/network/fork events; the worker's own are forgotten
        # by reset() at the start of each call.
        self.config.actions = ActionLog(
            self.config.destination_grants if self.config.network_granted else None
        )
        self.config.actions.install()
        with Quiet(OSError, AttributeError):
            self.config.worker_pidfd = os.pidfd_open(os.getpid())
        self.config.devnull = high_fd(os.open("/dev/null", os.O_RDWR | os.O_CLOEXEC))
        _syscalls.prepare_capabilities()
        # Inherited by every call; the worker itself never execs anything.
        _syscalls.prctl(_syscalls.PR_SET_NO_NEW_PRIVS, 1)
        _syscalls.prctl(_syscalls.PR_SET_DUMPABLE, 0)
        if privileged:
            try:
                _syscalls.drop_bounding_set()
                layers["capabilities"] = "dropped"
            except OSError as exc:
                layers["capabilities"] = f"bounding set kept: {exc.strerror}"
        else:
            layers["capabilities"] = "none held"

    def _setup_pidns(self, layers: dict[str, Any]) -> None:
        own = os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC)
        try:
            _syscalls.unshare(_syscalls.CLONE_NEWPID)
        except OSError:
            os.close(own)
            return
        try:
            _syscalls.setns(own, _syscalls.CLONE_NEWPID)
            self.own_pidns = own
            return
        except OSError:
            os.close(own)
        # In a user namespace we may create pid namespaces but not re-enter the
        # initial one; become pid 1 of the pending namespace and serve from there.
        become_namespace_init()
        layers["worker_pid1"] = True
        own = os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC)
        if pidns_works(own):
            self.own_pidns = own
        else:
            os.close(own)

    @staticmethod
    def _try(wanted: bool, action: Any) -> bool | str:
        if not wanted:
            return "not requested"
        try:
            action()
        except OSError as exc:
            return f"unavailable: {exc.strerror or exc}"
        return True

    def _setup_cgroup(self, spec: dict[str, Any], layers: dict[str, Any]) -> None:
        root = spec.get("cgroup")
        if not root:
            layers["cgroup"] = "not available"
        else:
            try:
                self.pool = CgroupPool(str(root))
                layers["cgroup"] = True
            except OSError as exc:
                layers["cgroup"] = f"unavailable: {exc.strerror}"
        self.config.set_nproc = self.pool is None and not self.real_root

    def _setup_confinement(
        self, spec: dict[str, Any], want: dict[str, bool], layers: dict[str, Any]
    ) -> None:
        network = spec.get("network", {})
        self.config.network_granted = bool(network.get("granted"))
        if self.config.network_granted:
            self.config.destination_grants = [
                (str(host), None if port is None else int(port))
                for host, port in network.get("destinations", [])
            ]
        self.config.read_paths = [p for p in spec.get("read_paths", []) if os.path.exists(p)]
        self.config.write_paths = [p for p in spec.get("write_paths", []) if os.path.exists(p)]
        ports = network.get("ports")
        self.config.connect_ports = None if ports is None else [int(p) for p in ports]
        if not self.config.network_granted:
            self.config.connect_ports = []
        if want.get("landlock", True):
            abi = _landlock.abi_version()
            self.config.landlock_abi = abi
            layers["landlock"] = abi if abi > 0 else "unavailable"
            if abi > 0:
                box = [self.box] if self.box else []
                rules = _landlock.PreparedRules(
                    read=self.config.read_paths,
                    write=["/dev/null", *self.config.write_paths, *box],
                )
                if self.box:
                    # The per-call tmpfs is mounted on box/work; Landlock skips a
                    # covered mount point and checks its parent, so a rule on the
                    # (read-only) box covers every call's tmpfs: build it once.
                    self.config.landlock_fd = high_fd(
                        _landlock.build_ruleset(abi, rules, connect_ports=self.config.connect_ports)
                    )
                    rules.close()
                else:
                    self.config.landlock_rules = rules
        else:
            layers["landlock"] = "not requested"
        if want.get("seccomp", True):
            try:
                self.config.seccomp_install = _seccomp.prepare(
                    _seccomp.compile_filter(allow_inet=self.config.network_granted)
                )
                layers["seccomp"] = True
            except OSError as exc:
                layers["seccomp"] = f"unavailable: {exc.strerror}"
        else:
            layers["seccomp"] = "not requested"

    # -- calls ---------------------------------------------------------------------
    def start_call(self, message: dict[str, Any], fds: list[int]) -> None:
        """Fork the child for one call."""
        call_id = int(message["id"])
        limits = message.get("limits") or {}
        slot: CgroupSlot | None = None
        workdir = self.config.workdir
        per_call_dir: str | None = None
        try:
            if self.pool is not None:
                slot = self.pool.acquire(int(limits.get("processes") or 64))
            if not self.config.mount_workdir:
                per_call_dir = os.path.join(workdir, f"call-{call_id}")
                os.mkdir(per_call_dir, 0o700)
                workdir = per_call_dir
            plan = ChildPlan(
                message, fds, cgroup_fd=slot.procs_fd if slot else None, workdir=workdir
            )
            forked_at = time.perf_counter()
            pid = self._fork(plan)
        except OSError as exc:
            if slot is not None and self.pool is not None:
                self.pool.release(slot)
            self._send({"ev": "failed", "id": call_id, "message": f"cannot start: {exc}"})
            return
        finally:
            for fd in fds:
                with Quiet(OSError):
                    os.close(fd)
        try:
            pidfd = os.pidfd_open(pid)
        except OSError:
            pidfd = -1
        running = _Running(call_id, pid, pidfd, slot, per_call_dir)
        running.started = forked_at
        running.limit_bytes = int(float(limits.get("workdir_mb") or 128) * 1024 * 1024)
        self.running[pidfd if pidfd >= 0 else -pid] = running
        self.by_id[call_id] = running

    def _fork(self, plan: ChildPlan) -> int:
        if self.own_pidns is not None:
            _syscalls.unshare(_syscalls.CLONE_NEWPID)
        try:
            pid = os.fork()
        except BaseException:
            if self.own_pidns is not None:
                _syscalls.setns(self.own_pidns, _syscalls.CLONE_NEWPID)
            raise
        if pid == 0:
            run_call(plan, self.config)
        if self.own_pidns is not None:
            _syscalls.setns(self.own_pidns, _syscalls.CLONE_NEWPID)
        return pid

    def signal_call(self, call_id: int, signum: int) -> None:
        """Send ``signum`` to a call (SIGKILL to its pid 1 ends its whole namespace)."""
        running = self.by_id.get(call_id)
        if running is None:
            return
        with Quiet(OSError):
            if running.pidfd >= 0:
                signal.pidfd_send_signal(running.pidfd, signum)
            else:
                os.kill(running.pid, signum)
        if self.own_pidns is None:
            # No pid namespace: the session is the best handle we have.
            with Quiet(OSError):
                os.killpg(running.pid, signum)
            if signum == signal.SIGKILL and running.slot is not None:
                running.slot.kill_all()

    def reap(self, key: int) -> None:
        """A call's process exited: collect it and tell the host."""
        running = self.running.pop(key)
        self.by_id.pop(running.call_id, None)
        _, status, usage = os.wait4(running.pid, 0)
        if self.own_pidns is None and running.slot is not None:
            # No pid namespace did the teardown: empty the cgroup before saying "ended".
            running.slot.kill_until_empty()
        if running.pidfd >= 0:
            os.close(running.pidfd)
        hit = False
        if running.slot is not None and self.pool is not None:
            hit = running.slot.limit_hit()
            # With a pid namespace the cgroup is empty once pid 1 is reaped.
            self.pool.release(running.slot, check=self.own_pidns is None)
        if running.workdir:
            import shutil

            shutil.rmtree(running.workdir, ignore_errors=True)
        self._send(
            {
                "ev": "exited",
                "id": running.call_id,
                "status": status,
                "cpu_s": round(usage.ru_utime + usage.ru_stime, 4),
                "maxrss_kb": usage.ru_maxrss,
                "child_ms": round((time.perf_counter() - running.started) * 1000, 3),
                "processes_limit_hit": hit,
                "workdir_limit_hit": running.workdir_hit,
            }
        )

    def check_workdirs(self) -> None:
        """Without a tmpfs per call, enforce the working-directory byte budget by polling."""
        for running in list(self.running.values()):
            if not running.workdir or running.workdir_hit:
                continue
            if tree_size(running.workdir, running.limit_bytes) > running.limit_bytes:
                running.workdir_hit = True
                self.signal_call(running.call_id, signal.SIGKILL)

    # -- loop ----------------------------------------------------------------------
    def _send(self, message: dict[str, Any]) -> None:
        send_message(self.sock, message)

    def handle(self, message: dict[str, Any], fds: list[int]) -> bool:
        """Act on one control message; False means shut down."""
        op = message.get("op")
        if op == "call":
            self.start_call(message, fds)
        elif op == "signal":
            self.signal_call(int(message["id"]), int(message["signal"]))
        elif op == "shutdown":
            return False
        return True

    def serve(self) -> None:
        """Run until the host closes the control socket or asks to shut down."""
        fileno = self.sock.fileno()
        while True:
            timeout = _POLL_WORKDIR_S if (self.running and not self.config.mount_workdir) else None
            watched = [fileno, *[k for k in self.running if k >= 0]]
            if any(k < 0 for k in self.running) and timeout is None:
                timeout = 0.05
            try:
                ready, _, _ = select.select(watched, [], [], timeout)
            except InterruptedError:
                continue
            for key in [k for k in ready if k != fileno]:
                self.reap(key)
            for key in [k for k in self.running if k < 0]:
                if os.waitid(os.P_PID, -key, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None:
                    self.reap(key)
            if not self.config.mount_workdir:
                self.check_workdirs()
            if fileno in ready and not self._read_control():
                return

    def _read_control(self) -> bool:
        try:
            data, ancdata, _flags, _addr = self.sock.recvmsg(
                1 << 16, ControlReader.ancillary_size()
            )
        except InterruptedError:
            return True
        except OSError:
            return False
        if not data:
            return False
        self.reader.feed(data, ancdata)
        return all(self.handle(message, fds) for message, fds in self.reader.messages())

    def shutdown(self) -> None:
        """Kill every running call, reap it, remove the cgroups."""
        for running in list(self.running.values()):
            self.signal_call(running.call_id, signal.SIGKILL)
        for key in list(self.running):
            with Quiet(OSError):
                self.reap(key)
        self.reader.close_pending()
        if self.pool is not None:
            self.pool.close()


def _receive_init(sock: socket.socket, reader: ControlReader) -> dict[str, Any]:
    while True:
        data, ancdata, _flags, _addr = sock.recvmsg(1 << 16, ControlReader.ancillary_size())
        if not data:
            raise SystemExit(0)
        reader.feed(data, ancdata)
        for message, _fds in reader.messages():
            if message.get("op") == "init":
                return message
            raise SystemExit("the first control message must be init")


def main(control_fd: int) -> None:
    """Entry point: serve one plugin's tool calls on ``control_fd``."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    sock = socket.socket(fileno=control_fd)
    sock.setblocking(True)
    zygote = Zygote(sock)
    spec = _receive_init(sock, zygote.reader)
    try:
        zygote.setup(spec)
    except BaseException as exc:  # noqa: BLE001 - reported to the host
        send_message(sock, {"ev": "setup_failed", "message": format_exception(exc)})
        raise SystemExit(1) from None
    send_message(
        sock,
        {
            "ev": "ready",
            "pid": os.getpid(),
            "layers": zygote.layers,
            "imports": {ref: None for ref in zygote.config.functions} | zygote.config.import_errors,
            "python": sys.version.split()[0],
        },
    )
    # Objects that exist now are never collected again: the GC of a forked child
    # would otherwise touch (and copy) every page of them.
    gc.freeze()
    try:
        zygote.serve()
    except OSError as exc:
        if exc.errno not in (errno.EPIPE, errno.ECONNRESET):
            raise
    finally:
        zygote.shutdown()
