"""Raw Linux system calls the sandbox needs and Python 3.11 does not wrap.

Standard library only (ctypes): this module is imported by the warm worker and
by every per-call child. Each wrapper raises :class:`OSError` with the errno on
failure. On platforms other than Linux the wrappers raise ``OSError(ENOSYS)``.
"""

from __future__ import annotations

import ctypes
import errno
import os
import sys

__all__ = [
    "ARCH",
    "CLONE_NEWCGROUP",
    "CLONE_NEWIPC",
    "CLONE_NEWNET",
    "CLONE_NEWNS",
    "CLONE_NEWPID",
    "CLONE_NEWUSER",
    "CLONE_NEWUTS",
    "MS_NODEV",
    "MS_NOSUID",
    "MS_PRIVATE",
    "MS_RDONLY",
    "MS_REC",
    "MS_REMOUNT",
    "NR",
    "drop_bounding_set",
    "drop_capabilities",
    "mount",
    "prctl",
    "prepare_capabilities",
    "setns",
    "syscall",
    "unshare",
]

CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
CLONE_NEWTIME = 0x00000080

MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_RDONLY = 1
MS_REMOUNT = 32
MS_REC = 0x4000
MS_PRIVATE = 1 << 18

PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
PR_CAPBSET_DROP = 24
PR_SET_SECCOMP = 22
PR_SET_NO_NEW_PRIVS = 38
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_CLEAR_ALL = 4

_MACHINE = os.uname().machine.lower() if hasattr(os, "uname") else ""
#: ``x86_64``, ``aarch64`` or ``other`` (no syscall table: namespaces, Landlock and
#: seccomp are reported unavailable).
ARCH = (
    "x86_64"
    if _MACHINE in ("x86_64", "amd64")
    else "aarch64"
    if _MACHINE in ("aarch64", "arm64")
    else "other"
)

# Syscall numbers the sandbox uses or filters. x86_64 from arch/x86/entry/syscalls/
# syscall_64.tbl; aarch64 from include/uapi/asm-generic/unistd.h.
_NR_X86_64 = {
    "socket": 41,
    "clone": 56,
    "ptrace": 101,
    "syslog": 103,
    "personality": 135,
    "vhangup": 153,
    "pivot_root": 155,
    "chroot": 161,
    "acct": 163,
    "settimeofday": 164,
    "mount": 165,
    "umount2": 166,
    "swapon": 167,
    "swapoff": 168,
    "reboot": 169,
    "iopl": 172,
    "ioperm": 173,
    "init_module": 175,
    "delete_module": 176,
    "quotactl": 179,
    "kexec_load": 246,
    "add_key": 248,
    "request_key": 249,
    "keyctl": 250,
    "unshare": 272,
    "perf_event_open": 298,
    "name_to_handle_at": 303,
    "open_by_handle_at": 304,
    "setns": 308,
    "process_vm_readv": 310,
    "process_vm_writev": 311,
    "kcmp": 312,
    "finit_module": 313,
    "kexec_file_load": 320,
    "bpf": 321,
    "userfaultfd": 323,
    "capset": 126,
}
_NR_AARCH64 = {
    "socket": 198,
    "clone": 220,
    "ptrace": 117,
    "syslog": 116,
    "personality": 92,
    "vhangup": 58,
    "pivot_root": 41,
    "chroot": 51,
    "acct": 89,
    "settimeofday": 170,
    "mount": 40,
    "umount2": 39,
    "swapon": 224,
    "swapoff": 225,
    "reboot": 142,
    "init_module": 105,
    "delete_module": 106,
    "quotactl": 60,
    "kexec_load": 104,
    "add_key": 217,
    "request_key": 218,
    "keyctl": 219,
    "unshare": 97,
    "perf_event_open": 241,
    "name_to_handle_at": 264,
    "open_by_handle_at": 265,
    "setns": 268,
    "process_vm_readv": 270,
    "process_vm_writev": 271,
    "kcmp": 272,
    "finit_module": 273,
    "kexec_file_load": 294,
    "bpf": 280,
    "userfaultfd": 282,
    "capset": 91,
}
#: Syscalls added since Linux 5.1 share one number on every architecture.
_NR_UNIFIED = {
    "pidfd_send_signal": 424,
    "io_uring_setup": 425,
    "io_uring_enter": 426,
    "io_uring_register": 427,
    "open_tree": 428,
    "move_mount": 429,
    "fsopen": 430,
    "fsconfig": 431,
    "fsmount": 432,
    "fspick": 433,
    "pidfd_open": 434,
    "clone3": 435,
    "mount_setattr": 442,
    "landlock_create_ruleset": 444,
    "landlock_add_rule": 445,
    "landlock_restrict_self": 446,
}
#: Syscall numbers for this machine (empty when the architecture is unknown).
_NR_ARCH = {"x86_64": _NR_X86_64, "aarch64": _NR_AARCH64}
NR: dict[str, int] = {**_NR_ARCH[ARCH], **_NR_UNIFIED} if ARCH in _NR_ARCH else {}

_libc: ctypes.CDLL | None = None


def _load_libc() -> ctypes.CDLL:
    global _libc
    if _libc is None:
        if not sys.platform.startswith("linux"):
            raise OSError(errno.ENOSYS, "Linux system calls are not available on this platform")
        # The interpreter links libc: its symbols are reachable without find_library,
        # which may spawn ldconfig.
        _libc = ctypes.CDLL(None, use_errno=True)
        _libc.syscall.restype = ctypes.c_long
        _libc.prctl.restype = ctypes.c_int
        _libc.prctl.argtypes = [
            ctypes.c_int,
            ctypes.c_ulong,
            ctypes.c_ulong,
            ctypes.c_ulong,
            ctypes.c_ulong,
        ]
        _libc.mount.argtypes = [
            ctypes.c_char_p,
            ctypes.c_char_p,
            ctypes.c_char_p,
            ctypes.c_ulong,
            ctypes.c_char_p,
        ]
    return _libc


def _check(result: int, what: str) -> int:
    if result < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")
    return result


def syscall(name: str, *args: int) -> int:
    """Call syscall ``name`` with integer arguments (pointers as ``ctypes.addressof``)."""
    number = NR.get(name)
    if number is None:
        raise OSError(errno.ENOSYS, f"{name}: no syscall number for {ARCH}")
    libc = _load_libc()
    c_args = [ctypes.c_long(a) for a in args]
    return _check(libc.syscall(ctypes.c_long(number), *c_args), name)


def unshare(flags: int) -> None:
    """``unshare(2)``: move this process into new namespaces."""
    syscall("unshare", flags)


def setns(fd: int, nstype: int) -> None:
    """``setns(2)``: join the namespace open at ``fd``."""
    syscall("setns", fd, nstype)


def mount(source: str | None, target: str, fstype: str | None, flags: int, data: str) -> None:
    """``mount(2)``."""
    libc = _load_libc()
    _check(
        libc.mount(
            source.encode() if source else None,
            target.encode(),
            fstype.encode() if fstype else None,
            flags,
            data.encode() if data else None,
        ),
        f"mount {target}",
    )


def prctl(option: int, arg2: int = 0, arg3: int = 0, arg4: int = 0, arg5: int = 0) -> int:
    """``prctl(2)`` with integer arguments."""
    libc = _load_libc()
    return _check(libc.prctl(option, arg2, arg3, arg4, arg5), f"prctl({option})")


class _CapHeader(ctypes.Structure):
    _fields_ = (("version", ctypes.c_uint32), ("pid", ctypes.c_int))


class _CapData(ctypes.Structure):
    _fields_ = (
        ("effective", ctypes.c_uint32),
        ("permitted", ctypes.c_uint32),
        ("inheritable", ctypes.c_uint32),
    )


_LINUX_CAPABILITY_VERSION_3 = 0x20080522
_CAP_LAST_GUESS = 63


def drop_bounding_set() -> None:
    """Empty the bounding and ambient sets (no exec can regain a capability).

    Needs CAP_SETPCAP; the current effective/permitted sets are kept, so the
    warm worker calls this once and children only need :func:`drop_capabilities`.
    """
    try:
        prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL)
    except OSError:
        pass
    for cap in range(_CAP_LAST_GUESS + 1):
        try:
            prctl(PR_CAPBSET_DROP, cap)
        except OSError as exc:
            if exc.errno == errno.EINVAL:  # past the last capability this kernel knows
                break
            raise


_capset_args: tuple[_CapHeader, ctypes.Array[_CapData]] | None = None


def prepare_capabilities() -> None:
    """Build the ``capset`` arguments once (the warm worker), so a call only traps."""
    global _capset_args
    _load_libc()
    _capset_args = (_CapHeader(_LINUX_CAPABILITY_VERSION_3, 0), (_CapData * 2)())


def drop_capabilities() -> None:
    """Empty the effective, permitted and inheritable sets (one ``capset``)."""
    if _capset_args is None:
        prepare_capabilities()
    assert _capset_args is not None
    header, data = _capset_args
    syscall("capset", ctypes.addressof(header), ctypes.addressof(data))
