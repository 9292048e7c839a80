"""The warm worker (fork server) of one tool plugin.

Started by the host as ``python -I -S -c <bootstrap>`` with a scrubbed
environment, it imports only the standard library, this package's child-side
modules and the plugin's tool modules. It is single-threaded: one ``select``
loop over the control socket and one pidfd per child.

Set-up, once: die with the host; a private mount namespace and an empty network
namespace (when the plugin has no network grant); import the tool functions;
compile the seccomp filter; create the cgroup pool.

Calls run in *spares*: children forked (into a fresh pid namespace, the call
being its pid 1, so its exit kills everything it started) and confined ahead of
time by :func:`llf_sandbox._child.run_spare`. Each spare waits on its own
socket, whose other end goes to the host: the host hands a call (arguments and
the call's three pipe ends) straight to a spare that fits the call's limits, and
tells the worker, which forks the next spare while the call runs. The fork and
the confinement, most of a call's cost, are off the call's path, and so is this
process. A spare is made for a *key*, the two limits that must be fixed before
the call arrives: the tmpfs size (``workdir_mb``) and ``pids.max``
(``processes``).

Control messages (see :mod:`llf_sandbox._wire`)::

    host -> worker  {"op": "init", ...spec}                  (first message)
                    {"op": "spare", "key"}                   (fork one now)
                    {"op": "taken", "spare", "key"}          (a call went to it)
                    {"op": "signal", "spare", "signal"}
                    {"op": "shutdown"}
    worker -> host  {"ev": "ready", "pid", "layers", "imports"}
                    {"ev": "spare", "spare", "key", "fds": 1} + its socket
                    {"ev": "spare_failed", "key", "message"} (could not fork)
                    {"ev": "exited", "spare", "status", "cpu_s", "maxrss_kb",
                     "processes_limit_hit", "workdir_limit_hit"}
"""

# ruff: noqa: PTH102, PTH106, PTH110, PTH118, PTH120
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
from ._child import SparePlan
from ._child import WorkerConfig
from ._child import install_handlers
from ._child import run_spare
from ._classify import ActionLog
from ._wire import ControlReader
from ._wire import key_from_wire
from ._wire import send_message
from ._wire import spare_key
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


class _Child:
    """A forked child: a spare, then (once ``taken``) a call in progress."""

    __slots__ = (
        "key",
        "limit_bytes",
        "pid",
        "pidfd",
        "slot",
        "spare_id",
        "started",
        "taken",
        "workdir",
        "workdir_hit",
    )

    def __init__(
        self,
        spare_id: int,
        pid: int,
        pidfd: int,
        slot: CgroupSlot | None,
        workdir: str | None,
        key: tuple[float, int],
    ) -> None:
        self.spare_id = spare_id
        self.pid = pid
        self.pidfd = pidfd
        self.slot = slot
        #: The per-call directory to remove afterwards (None in tmpfs mode).
        self.workdir = workdir
        #: (workdir_mb, processes): the limits fixed before the call arrives.
        self.key = key
        self.limit_bytes = int(key[0] * 1024 * 1024)
        self.taken = False
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
        #: Every forked child (spares and calls) by pidfd (or -pid without one).
        self.children: dict[int, _Child] = {}
        self.real_root = os.geteuid() == 0
        self.by_spare: dict[int, _Child] = {}
        #: Fork the next spare when a call takes one (False: only when asked).
        self.prefork = True
        self._spare_ids = 0
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

    # -- spares and calls ----------------------------------------------------------
    def fork_spare(self, key: tuple[float, int]) -> None:
        """Fork a child that confines itself, and give the host its socket."""
        workdir_mb, processes = key
        self._spare_ids += 1
        spare_id = self._spare_ids
        slot: CgroupSlot | None = None
        workdir = self.config.workdir
        per_call_dir: str | None = None
        mine: socket.socket | None = None
        try:
            if self.pool is not None:
                slot = self.pool.acquire(processes)
            if not self.config.mount_workdir:
                per_call_dir = os.path.join(workdir, f"call-{spare_id}")
                os.mkdir(per_call_dir, 0o700)
                workdir = per_call_dir
            mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
            plan = SparePlan(
                theirs,
                cgroup_fd=slot.procs_fd if slot else None,
                workdir=workdir,
                workdir_mb=workdir_mb,
            )
            try:
                pid = self._fork(plan, mine)
            finally:
                theirs.close()
        except OSError as exc:
            if mine is not None:
                mine.close()
            if slot is not None and self.pool is not None:
                self.pool.release(slot)
            if per_call_dir is not None:
                with Quiet(OSError):
                    os.rmdir(per_call_dir)
            self._send({"ev": "spare_failed", "key": list(key), "message": f"cannot fork: {exc}"})
            return
        try:
            pidfd = os.pidfd_open(pid)
        except OSError:
            pidfd = -1
        child = _Child(spare_id, pid, pidfd, slot, per_call_dir, key)
        self.children[pidfd if pidfd >= 0 else -pid] = child
        self.by_spare[spare_id] = child
        try:
            send_message(
                self.sock,
                {"ev": "spare", "spare": spare_id, "key": list(key), "fds": 1},
                [mine.fileno()],
            )
        finally:
            mine.close()  # the host holds the only other end; the spare exits if it goes

    def _fork(self, plan: SparePlan, mine: socket.socket) -> int:
        if self.own_pidns is not None:
            _syscalls.unshare(_syscalls.CLONE_NEWPID)
        try:
            pid = os.fork()
        except BaseException:
            if self.own_pidns is not None:
                _syscalls.setns(self.own_pidns, _syscalls.CLONE_NEWPID)
            raise
        if pid == 0:
            mine.detach()  # closed with every other inherited fd; never by GC
            run_spare(plan, self.config)
        if self.own_pidns is not None:
            _syscalls.setns(self.own_pidns, _syscalls.CLONE_NEWPID)
        return pid

    def taken(self, spare_id: int, key: tuple[float, int]) -> None:
        """The host handed a call to a spare: start the clock, fork its successor."""
        child = self.by_spare.get(spare_id)
        if child is not None:  # None: a quick call already ended (and was reaped)
            child.taken = True
            child.started = time.perf_counter()
        if self.prefork and not any(c.key == key and not c.taken for c in self.by_spare.values()):
            # Prepare the next call's process while this one runs.
            self.fork_spare(key)

    def signal_spare(self, spare_id: int, signum: int) -> None:
        """Send ``signum`` to a child (SIGKILL to its pid 1 ends its whole namespace)."""
        child = self.by_spare.get(spare_id)
        if child is None:
            return
        with Quiet(OSError):
            if child.pidfd >= 0:
                signal.pidfd_send_signal(child.pidfd, signum)
            else:
                os.kill(child.pid, signum)
        if self.own_pidns is None:
            # No pid namespace: the session is the best handle we have.
            with Quiet(OSError):
                os.killpg(child.pid, signum)
            if signum == signal.SIGKILL and child.slot is not None:
                child.slot.kill_all()

    def reap(self, key: int) -> None:
        """A child exited: collect it and tell the host how it ended."""
        child = self.children.pop(key)
        self.by_spare.pop(child.spare_id, None)
        _, status, usage = os.wait4(child.pid, 0)
        if self.own_pidns is None and child.slot is not None:
            # No pid namespace did the teardown: empty the cgroup before saying "ended".
            child.slot.kill_until_empty()
        if child.pidfd >= 0:
            os.close(child.pidfd)
        hit = False
        if child.slot is not None and self.pool is not None:
            hit = child.slot.limit_hit()
            # With a pid namespace the cgroup is empty once pid 1 is reaped.
            self.pool.release(child.slot, check=self.own_pidns is None)
        if child.workdir:
            import shutil

            shutil.rmtree(child.workdir, ignore_errors=True)
        self._send(
            {
                "ev": "exited",
                "spare": child.spare_id,
                "status": status,
                "cpu_s": round(usage.ru_utime + usage.ru_stime, 4),
                "maxrss_kb": usage.ru_maxrss,
                "child_ms": round((time.perf_counter() - child.started) * 1000, 3),
                "processes_limit_hit": hit,
                "workdir_limit_hit": child.workdir_hit,
            }
        )

    def check_workdirs(self) -> None:
        """Without a tmpfs per call, enforce the working-directory byte budget by polling."""
        for child in list(self.children.values()):
            if not child.taken or not child.workdir or child.workdir_hit:
                continue
            if tree_size(child.workdir, child.limit_bytes) > child.limit_bytes:
                child.workdir_hit = True
                self.signal_spare(child.spare_id, signal.SIGKILL)

    # -- loop ----------------------------------------------------------------------
    def _send(self, message: dict[str, Any]) -> None:
        send_message(self.sock, message)

    def handle(self, message: dict[str, Any], fds: list[int]) -> bool:
        """Act on one control message; False means shut down."""
        for fd in fds:  # the host never sends any
            with Quiet(OSError):
                os.close(fd)
        op = message.get("op")
        if op == "taken":
            self.taken(int(message["spare"]), key_from_wire(message["key"]))
        elif op == "spare":
            self.fork_spare(key_from_wire(message["key"]))
        elif op == "signal":
            self.signal_spare(int(message["spare"]), int(message["signal"]))
        elif op == "shutdown":
            return False
        return True

    def serve(self) -> None:
        """Run until the host closes the control socket or asks to shut down."""
        fileno = self.sock.fileno()
        while True:
            polling = not self.config.mount_workdir and any(c.taken for c in self.children.values())
            timeout = _POLL_WORKDIR_S if polling else None
            watched = [fileno, *[k for k in self.children if k >= 0]]
            if any(k < 0 for k in self.children) and timeout is None:
                timeout = 0.05
            try:
                ready, _, _ = select.select(watched, [], [], timeout)
            except InterruptedError:
                continue
            for key in [k for k in ready if k != fileno]:
                self.reap(key)
            for key in [k for k in self.children if k < 0]:
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
        """Kill every child (calls and spares), reap them, remove the cgroups."""
        for child in list(self.children.values()):
            self.signal_spare(child.spare_id, signal.SIGKILL)
        for key in list(self.children):
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
    zygote.prefork = bool(spec.get("prefork", True))
    first = spec.get("spare_limits")
    if zygote.prefork and isinstance(first, dict):
        zygote.fork_spare(spare_key(first))
    try:
        zygote.serve()
    except OSError as exc:
        if exc.errno not in (errno.EPIPE, errno.ECONNRESET):
            raise
    finally:
        zygote.shutdown()
