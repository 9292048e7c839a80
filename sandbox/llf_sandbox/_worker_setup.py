"""Set-up helpers of the warm worker: namespaces, the tmpfs box, imports, small tools.

Standard library only (see :mod:`llf_sandbox._zygote`).
"""

# ruff: noqa: PTH102, PTH103, PTH118
# The worker side uses os.path: pathlib (and its imports) would grow the warm
# worker that every call forks from.

from __future__ import annotations

import importlib
import os
import signal
import sys
import types

from . import _syscalls

TYPE_CHECKING = False
if TYPE_CHECKING:
    from types import TracebackType
    from typing import Any

    from ._child import WorkerConfig

__all__ = [
    "Quiet",
    "become_namespace_init",
    "enter_user_namespace",
    "format_exception",
    "high_fd",
    "import_functions",
    "make_box",
    "make_private_mounts",
    "pidns_works",
    "tree_size",
]


class Quiet:
    """``contextlib.suppress`` without importing contextlib (keeps the worker small)."""

    def __init__(self, *kinds: type[BaseException]) -> None:
        self.kinds = kinds

    def __enter__(self) -> None:
        return None

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        return kind is not None and issubclass(kind, self.kinds)


def format_exception(exc: BaseException) -> str:
    import traceback

    return "".join(traceback.format_exception(exc))[-4000:]


def import_functions(spec: dict[str, Any], config: WorkerConfig) -> None:
    root = types.ModuleType("_llf_tools", "Tool modules loaded by an llf-sandbox worker.")
    root.__path__ = []
    sys.modules["_llf_tools"] = root
    for name, paths in spec.get("packages", {}).items():
        pkg = types.ModuleType(name)
        pkg.__path__ = list(paths)
        pkg.__package__ = name
        sys.modules[name] = pkg
    for ref, (module_name, attr) in spec.get("functions", {}).items():
        try:
            obj: Any = importlib.import_module(module_name)
            for part in attr.split("."):
                obj = getattr(obj, part)
            if not callable(obj):
                raise TypeError(f"{module_name}:{attr} is not callable")
            config.functions[ref] = obj
        except BaseException as exc:
            if isinstance(exc, KeyboardInterrupt):
                raise
            config.import_errors[ref] = format_exception(exc)


def make_private_mounts() -> None:
    _syscalls.unshare(_syscalls.CLONE_NEWNS)
    _syscalls.mount(None, "/", None, _syscalls.MS_REC | _syscalls.MS_PRIVATE, "")


def enter_user_namespace() -> None:
    """Unprivileged: become root of a new user namespace mapped to our own ids."""
    uid, gid = os.geteuid(), os.getegid()
    _syscalls.unshare(_syscalls.CLONE_NEWUSER)
    with open("/proc/self/setgroups", "w", encoding="ascii") as handle:
        handle.write("deny")
    with open("/proc/self/uid_map", "w", encoding="ascii") as handle:
        handle.write(f"0 {uid} 1")
    with open("/proc/self/gid_map", "w", encoding="ascii") as handle:
        handle.write(f"0 {gid} 1")


def high_fd(fd: int) -> int:
    """Move ``fd`` far above 0-3, which each child re-assigns before using it."""
    import fcntl

    high = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 64)
    os.close(fd)
    return high


def make_box(runtime: str) -> tuple[str, str]:
    """A tiny read-only tmpfs with an empty ``work`` dir: the per-call mount point.

    Read-only, so a call cannot write next to its tmpfs (on the real disk, past
    the size cap, visible to the next call); calls may still mount over ``work``.
    """
    box = os.path.join(runtime, "box")
    os.makedirs(box, mode=0o700, exist_ok=True)
    flags = _syscalls.MS_NOSUID | _syscalls.MS_NODEV
    _syscalls.mount("tmpfs", box, "tmpfs", flags, "size=16k,nr_inodes=8,mode=0755")
    work = os.path.join(box, "work")
    os.mkdir(work, 0o700)
    _syscalls.mount(None, box, None, _syscalls.MS_REMOUNT | _syscalls.MS_RDONLY | flags, "")
    return work, box


def become_namespace_init() -> None:
    pid = os.fork()
    if pid:
        # The original process only waits, so the host's handle on it stays meaningful.
        _, status = os.waitpid(pid, 0)
        os._exit(os.waitstatus_to_exitcode(status) & 0xFF)
    _syscalls.prctl(_syscalls.PR_SET_PDEATHSIG, signal.SIGKILL)


def pidns_works(own_fd: int) -> bool:
    try:
        _syscalls.unshare(_syscalls.CLONE_NEWPID)
    except OSError:
        return False
    try:
        _syscalls.setns(own_fd, _syscalls.CLONE_NEWPID)
    except OSError:
        return False
    return True


def tree_size(path: str, stop_at: int) -> int:
    total = 0
    stack = [path]
    while stack and total <= stop_at:
        try:
            entries = list(os.scandir(stack.pop()))
        except OSError:
            continue
        for entry in entries:
            try:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
                else:
                    total += entry.stat(follow_symlinks=False).st_blocks * 512
            except OSError:
                continue
    return total
