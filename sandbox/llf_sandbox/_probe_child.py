"""Runs in a throw-away ``python -I -S`` process: try each isolation primitive for real.

Standard library only. Each namespace test happens in a forked child so this
process stays clean; the result is one JSON object on stdout.
"""

# ruff: noqa: PTH102, PTH106, PTH109, PTH118, PTH208
# The worker side uses os.path: pathlib (and its imports) would grow the warm
# worker that every call forks from.

from __future__ import annotations

import json
import os
import socket
import sys

from . import _landlock
from . import _seccomp
from . import _syscalls

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable


def _in_child(action: Callable[[], None]) -> bool | str:
    """Run ``action`` in a forked child; True if it worked, else the error text."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_end)
        message = b""
        try:
            action()
        except BaseException as exc:  # noqa: BLE001 - the probe reports it
            message = f"{type(exc).__name__}: {exc}".encode()[:500] or b"failed"
        os.write(write_end, message)
        os._exit(0)
    os.close(write_end)
    chunks = []
    while chunk := os.read(read_end, 4096):
        chunks.append(chunk)
    os.close(read_end)
    _, status = os.waitpid(pid, 0)
    text = b"".join(chunks).decode("utf-8", "replace")
    if status != 0:
        return text or f"child ended with status {status}"
    return text if text else True


def _userns_if_needed() -> None:
    if os.geteuid() != 0:
        uid, gid = os.geteuid(), os.getegid()
        _syscalls.unshare(_syscalls.CLONE_NEWUSER)
        with open("/proc/self/setgroups", "w", encoding="ascii") as handle:
            handle.write("deny")
        with open("/proc/self/uid_map", "w", encoding="ascii") as handle:
            handle.write(f"0 {uid} 1")
        with open("/proc/self/gid_map", "w", encoding="ascii") as handle:
            handle.write(f"0 {gid} 1")


def _try_userns() -> None:
    uid = os.geteuid()
    _syscalls.unshare(_syscalls.CLONE_NEWUSER)
    with open("/proc/self/uid_map", "w", encoding="ascii") as handle:
        handle.write(f"0 {uid} 1")


def _try_netns() -> None:
    _userns_if_needed()
    _syscalls.unshare(_syscalls.CLONE_NEWNET)
    probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        probe.connect(("127.0.0.1", 9))
    except OSError as exc:
        if exc.errno not in (101, 111):  # ENETUNREACH, ECONNREFUSED
            raise
    finally:
        probe.close()


def _try_mountns() -> None:
    _userns_if_needed()
    _syscalls.unshare(_syscalls.CLONE_NEWNS)
    _syscalls.mount(None, "/", None, _syscalls.MS_REC | _syscalls.MS_PRIVATE, "")
    target = os.getcwd()
    _syscalls.mount("tmpfs", target, "tmpfs", _syscalls.MS_NOSUID | _syscalls.MS_NODEV, "size=1m")


def _try_pidns() -> None:
    _userns_if_needed()
    _syscalls.unshare(_syscalls.CLONE_NEWPID)
    pid = os.fork()
    if pid == 0:
        os._exit(0 if os.getpid() == 1 else 3)
    _, status = os.waitpid(pid, 0)
    if status != 0:
        raise OSError("the first process of the new pid namespace was not pid 1")


def _try_seccomp() -> None:
    program = _seccomp.compile_filter(allow_inet=False)
    _syscalls.prctl(_syscalls.PR_SET_NO_NEW_PRIVS, 1)
    _seccomp.install(program)
    try:
        socket.socket(socket.AF_INET, socket.SOCK_STREAM).close()
    except PermissionError:
        return
    raise OSError("the filter did not refuse socket(AF_INET)")


def _try_landlock() -> None:
    abi = _landlock.abi_version()
    rules = _landlock.PreparedRules(read=["/usr"])
    fd = _landlock.build_ruleset(abi, rules)
    _syscalls.prctl(_syscalls.PR_SET_NO_NEW_PRIVS, 1)
    _landlock.restrict_self(fd)
    try:
        os.listdir("/")
    except PermissionError:
        return
    raise OSError("the ruleset did not refuse listing /")


def _cgroup_candidates() -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    try:
        with open("/proc/self/cgroup", encoding="ascii") as handle:
            lines = handle.read().splitlines()
        with open("/proc/self/mountinfo", encoding="utf-8") as handle:
            mounts = handle.read().splitlines()
    except OSError:
        return found
    own = {}
    for line in lines:
        _hid, controllers, path = line.split(":", 2)
        own[controllers] = path
    for mount in mounts:
        fields = mount.split(" - ")
        if len(fields) != 2:
            continue
        left, right = fields[0].split(), fields[1].split()
        mount_point, fstype, options = left[4], right[0], right[-1]
        if fstype == "cgroup" and "pids" in options.split(","):
            for controllers, path in own.items():
                if "pids" in controllers.split(","):
                    found.append(("v1", os.path.join(mount_point, path.lstrip("/"))))
        elif fstype == "cgroup2" and "" in own:
            base = os.path.join(mount_point, own[""].lstrip("/"))
            try:
                with open(os.path.join(base, "cgroup.subtree_control"), encoding="ascii") as h:
                    if "pids" in h.read().split():
                        found.append(("v2", base))
            except OSError:
                continue
    return found


def _probe_cgroup() -> dict[str, object]:
    errors = []
    for kind, base in _cgroup_candidates():
        test = os.path.join(base, f"llf-sandbox-probe-{os.getpid()}")
        try:
            os.mkdir(test)
            try:
                with open(os.path.join(test, "pids.max"), "w", encoding="ascii") as handle:
                    handle.write("8")
            finally:
                os.rmdir(test)
        except OSError as exc:
            errors.append(f"{base}: {exc.strerror}")
            continue
        return {"available": True, "kind": kind, "parent": base}
    return {
        "available": False,
        "reason": "; ".join(errors) or "no writable pids cgroup (v1 pids or delegated v2)",
    }


def main() -> None:
    """Probe and print the JSON report."""
    os.chdir(os.environ.get("TMPDIR") or "/tmp")
    report: dict[str, object] = {
        "platform": sys.platform,
        "arch": _syscalls.ARCH,
        "kernel": os.uname().release,
        "euid": os.geteuid(),
        "python": sys.version.split()[0],
        "pidfd": hasattr(os, "pidfd_open"),
    }
    if sys.platform.startswith("linux") and _syscalls.ARCH != "other":
        report["landlock_abi"] = _landlock.abi_version()
        report["landlock"] = _in_child(_try_landlock) if report["landlock_abi"] else "no ABI"
        report["seccomp"] = _in_child(_try_seccomp)
        report["userns"] = _in_child(_try_userns)
        report["netns"] = _in_child(_try_netns)
        report["mountns"] = _in_child(_try_mountns)
        report["pidns"] = _in_child(_try_pidns)
        report["cgroup"] = _probe_cgroup()
    sys.stdout.write(json.dumps(report))
    sys.stdout.flush()
