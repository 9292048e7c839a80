"""Landlock: filesystem, TCP-port and scope confinement (kernel docs, "Landlock:
unprivileged access control").

Standard library only. The warm worker opens the rule paths once
(:class:`PreparedRules`); each per-call child builds its ruleset from those fds
plus its own working directory (a tmpfs that exists only in the child's mount
namespace, so the ruleset cannot be built earlier: a rule binds to an inode, and
a rule on the mount point's underlying directory does not cover the tmpfs) and
calls :func:`restrict_self`. Enforcement needs
``no_new_privs`` (or CAP_SYS_ADMIN) and applies to the calling thread and every
process it later creates.
"""

# ruff: noqa: PTH112
# The worker side uses os.path: pathlib (and its imports) would grow the warm
# worker that every call forks from.

from __future__ import annotations

import ctypes
import errno
import fcntl
import os
import struct

from . import _syscalls

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable

__all__ = [
    "FS_READ",
    "FS_READ_WRITE",
    "PreparedRules",
    "abi_version",
    "build_ruleset",
    "restrict_self",
]

_CREATE_RULESET_VERSION = 1
_RULE_PATH_BENEATH = 1
_RULE_NET_PORT = 2

ACCESS_EXECUTE = 1 << 0
ACCESS_WRITE_FILE = 1 << 1
ACCESS_READ_FILE = 1 << 2
ACCESS_READ_DIR = 1 << 3
ACCESS_REMOVE_DIR = 1 << 4
ACCESS_REMOVE_FILE = 1 << 5
ACCESS_MAKE_CHAR = 1 << 6
ACCESS_MAKE_DIR = 1 << 7
ACCESS_MAKE_REG = 1 << 8
ACCESS_MAKE_SOCK = 1 << 9
ACCESS_MAKE_FIFO = 1 << 10
ACCESS_MAKE_BLOCK = 1 << 11
ACCESS_MAKE_SYM = 1 << 12
ACCESS_REFER = 1 << 13  # ABI 2
ACCESS_TRUNCATE = 1 << 14  # ABI 3
ACCESS_IOCTL_DEV = 1 << 15  # ABI 5

NET_BIND_TCP = 1 << 0
NET_CONNECT_TCP = 1 << 1

SCOPE_ABSTRACT_UNIX_SOCKET = 1 << 0
SCOPE_SIGNAL = 1 << 1

#: Rights that make sense on a regular file (the kernel rejects the others there).
_FILE_RIGHTS = ACCESS_EXECUTE | ACCESS_WRITE_FILE | ACCESS_READ_FILE | ACCESS_TRUNCATE
#: Read-only access to a tree (including running programs from it).
FS_READ = ACCESS_EXECUTE | ACCESS_READ_FILE | ACCESS_READ_DIR
#: Everything a working directory needs; never device nodes.
FS_READ_WRITE = (
    FS_READ
    | ACCESS_WRITE_FILE
    | ACCESS_REMOVE_DIR
    | ACCESS_REMOVE_FILE
    | ACCESS_MAKE_DIR
    | ACCESS_MAKE_REG
    | ACCESS_MAKE_SOCK
    | ACCESS_MAKE_FIFO
    | ACCESS_MAKE_SYM
    | ACCESS_REFER
    | ACCESS_TRUNCATE
)


def _fs_rights_for(abi: int) -> int:
    rights = (1 << 13) - 1
    if abi >= 2:
        rights |= ACCESS_REFER
    if abi >= 3:
        rights |= ACCESS_TRUNCATE
    if abi >= 5:
        rights |= ACCESS_IOCTL_DEV
    return rights


def abi_version() -> int:
    """The Landlock ABI the kernel offers (0 when Landlock is missing or disabled)."""
    try:
        return _syscalls.syscall("landlock_create_ruleset", 0, 0, _CREATE_RULESET_VERSION)
    except OSError:
        return 0


_FIRST_RULE_FD = 64


class PreparedRules:
    """Path rules opened once (``O_PATH`` fds kept open) so a child adds them cheaply.

    :param read: paths readable (and executable) with everything below them.
    :param write: paths readable and writable with everything below them.
    Paths that do not exist are skipped (they grant nothing).
    """

    def __init__(self, *, read: Iterable[str] = (), write: Iterable[str] = ()) -> None:
        self.rules: list[tuple[int, int]] = []
        self.read: list[str] = []
        self.write: list[str] = []
        for path in read:
            if self._open(path, FS_READ):
                self.read.append(path)
        for path in write:
            if self._open(path, FS_READ_WRITE):
                self.write.append(path)

    def _open(self, path: str, rights: int) -> bool:
        try:
            low = os.open(path, os.O_PATH | os.O_CLOEXEC)
        except OSError:
            return False
        # Far above 0-3, which a child re-assigns (stdio, result pipe) before using these.
        fd = fcntl.fcntl(low, fcntl.F_DUPFD_CLOEXEC, _FIRST_RULE_FD)
        os.close(low)
        if not os.path.isdir(path):
            rights &= _FILE_RIGHTS
        self.rules.append((fd, rights))
        return True

    def fds(self) -> list[int]:
        """The open fds (a child must keep them until :func:`build_ruleset`)."""
        return [fd for fd, _rights in self.rules]

    def close(self) -> None:
        """Close every fd."""
        for fd, _rights in self.rules:
            try:
                os.close(fd)
            except OSError:
                pass
        self.rules.clear()


def _create(abi: int, restrict_connect: bool, allow_bind: bool) -> int:
    handled_fs = _fs_rights_for(abi)
    handled_net = 0
    if abi >= 4:
        if not allow_bind:
            handled_net |= NET_BIND_TCP
        if restrict_connect:
            handled_net |= NET_CONNECT_TCP
    scoped = SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL if abi >= 6 else 0
    if abi >= 6:
        attr = struct.pack("=QQQ", handled_fs, handled_net, scoped)
    elif abi >= 4:
        attr = struct.pack("=QQ", handled_fs, handled_net)
    else:
        attr = struct.pack("=Q", handled_fs)
    buf = ctypes.create_string_buffer(attr, len(attr))
    return _syscalls.syscall("landlock_create_ruleset", ctypes.addressof(buf), len(attr), 0)


def _add_path_fd(ruleset_fd: int, fd: int, rights: int) -> None:
    attr = struct.pack("=Qi", rights, fd)
    buf = ctypes.create_string_buffer(attr, len(attr))
    _syscalls.syscall("landlock_add_rule", ruleset_fd, _RULE_PATH_BENEATH, ctypes.addressof(buf), 0)


def _add_port(ruleset_fd: int, port: int) -> None:
    attr = struct.pack("=QQ", NET_CONNECT_TCP, port)
    buf = ctypes.create_string_buffer(attr, len(attr))
    _syscalls.syscall("landlock_add_rule", ruleset_fd, _RULE_NET_PORT, ctypes.addressof(buf), 0)


def build_ruleset(
    abi: int,
    prepared: PreparedRules,
    *,
    extra_write: Iterable[str] = (),
    connect_ports: Iterable[int] | None = (),
    allow_bind: bool = False,
) -> int:
    """Create a ruleset fd from prepared rules plus per-call read-write paths.

    :param connect_ports: TCP ports ``connect()`` may reach; ``None`` leaves TCP
        connect unrestricted (Landlock cannot filter by host and has no UDP rules).
    Raises OSError(ENOSYS) when the kernel has no Landlock.
    """
    if abi <= 0:
        raise OSError(errno.ENOSYS, "Landlock is not available in this kernel")
    ports = None if connect_ports is None else sorted(set(connect_ports))
    handled = _fs_rights_for(abi)
    fd = _create(abi, ports is not None, allow_bind)
    try:
        for path_fd, rights in prepared.rules:
            _add_path_fd(fd, path_fd, rights & handled)
        for path in extra_write:
            path_fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
            try:
                rights = FS_READ_WRITE if os.path.isdir(path) else FS_READ_WRITE & _FILE_RIGHTS
                _add_path_fd(fd, path_fd, rights & handled)
            finally:
                os.close(path_fd)
        if abi >= 4 and ports is not None:
            for port in ports:
                _add_port(fd, port)
    except BaseException:
        os.close(fd)
        raise
    return fd


def restrict_self(ruleset_fd: int) -> None:
    """Enforce the ruleset on this thread and all future children (needs no_new_privs)."""
    _syscalls.syscall("landlock_restrict_self", ruleset_fd, 0)
