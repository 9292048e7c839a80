"""A seccomp filter written as raw classic BPF and installed with ``prctl``.

Standard library only. seccomp sees syscall numbers and scalar arguments, never
the memory they point to, so the filter:

* kills the process on a foreign architecture (i386 entry points) and refuses
  x32 syscall numbers;
* refuses syscalls no tool needs and that widen the attack surface: namespace
  and mount changes, ptrace and ``process_vm_*``, ``bpf``, key management,
  io_uring (its operations bypass seccomp), kernel modules, kexec, reboot...;
* refuses ``socket(AF_INET|AF_INET6|AF_PACKET)`` unless network is granted;
* answers ``clone3`` with ENOSYS (its flags live in memory seccomp cannot read;
  libc then falls back to ``clone``, whose namespace flags are refused).

The program is compiled once in the warm worker (:func:`compile_filter`) and
installed per call (:func:`install`), which is one ``prctl``.
"""

from __future__ import annotations

import ctypes
import errno
import socket
import struct

from . import _syscalls

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["DENIED_SYSCALLS", "compile_filter", "install", "prepare"]

# struct seccomp_data offsets
_OFF_NR = 0
_OFF_ARCH = 4
_OFF_ARG0 = 16

# BPF opcodes
_LD_W_ABS = 0x20
_JMP_JEQ_K = 0x15
_JMP_JGE_K = 0x35
_JMP_JSET_K = 0x45
_RET_K = 0x06

_RET_KILL_PROCESS = 0x80000000
_RET_ERRNO = 0x00050000
_RET_ALLOW = 0x7FFF0000

_AUDIT_ARCH = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}
_X32_SYSCALL_BIT = 0x40000000

_SECCOMP_MODE_FILTER = 2

#: Syscalls refused with EPERM for every tool.
DENIED_SYSCALLS: tuple[str, ...] = (
    "ptrace",
    "process_vm_readv",
    "process_vm_writev",
    "bpf",
    "keyctl",
    "add_key",
    "request_key",
    "io_uring_setup",
    "io_uring_enter",
    "io_uring_register",
    "unshare",
    "setns",
    "mount",
    "umount2",
    "pivot_root",
    "chroot",
    "open_tree",
    "move_mount",
    "fsopen",
    "fsconfig",
    "fsmount",
    "fspick",
    "mount_setattr",
    "init_module",
    "finit_module",
    "delete_module",
    "kexec_load",
    "kexec_file_load",
    "reboot",
    "swapon",
    "swapoff",
    "acct",
    "quotactl",
    "perf_event_open",
    "userfaultfd",
    "open_by_handle_at",
    "name_to_handle_at",
    "kcmp",
    "syslog",
    "vhangup",
    "iopl",
    "ioperm",
    "settimeofday",
    "personality",
)

_NAMESPACE_FLAGS = (
    _syscalls.CLONE_NEWNS
    | _syscalls.CLONE_NEWCGROUP
    | _syscalls.CLONE_NEWUTS
    | _syscalls.CLONE_NEWIPC
    | _syscalls.CLONE_NEWUSER
    | _syscalls.CLONE_NEWPID
    | _syscalls.CLONE_NEWNET
    | _syscalls.CLONE_NEWTIME
)


def _insn(code: int, jt: int, jf: int, k: int) -> bytes:
    return struct.pack("=HBBI", code, jt, jf, k & 0xFFFFFFFF)


def compile_filter(*, allow_inet: bool) -> bytes:
    """The filter program as packed ``struct sock_filter`` entries.

    Raises OSError(ENOSYS) on an architecture without a syscall table here.
    """
    arch = _AUDIT_ARCH.get(_syscalls.ARCH)
    if arch is None:
        raise OSError(errno.ENOSYS, f"no seccomp syscall table for {_syscalls.ARCH}")
    nr = _syscalls.NR
    denied = [nr[name] for name in DENIED_SYSCALLS if name in nr]
    blocked_domains = [socket.AF_PACKET] if allow_inet else [socket.AF_INET, socket.AF_INET6]
    if not allow_inet:
        blocked_domains.append(socket.AF_PACKET)

    # Layout (jumps are relative, so build the tail first and count backwards):
    #   0 ld arch; 1 jeq arch ? 3 : 2; 2 ret kill
    #   3 ld nr; 4 jge x32 -> EPERM
    #   5 jeq clone3 -> ENOSYS
    #   6 jeq clone -> CLONE_CHECK
    #   7 jeq socket -> SOCKET_CHECK
    #   8.. jeq denied[i] -> EPERM
    #   ret allow
    #   CLONE_CHECK: ld arg0; jset ns_flags -> EPERM; ret allow
    #   SOCKET_CHECK: ld arg0; jeq dom_i -> EPERM ...; ret allow
    #   EPERM: ret errno(EPERM)
    #   ENOSYS: ret errno(ENOSYS)
    head: list[tuple[str, int, int]] = []  # (kind, syscall, unused)
    head.append(("x32", 0, 0))
    head.append(("clone3", nr["clone3"], 0))
    head.append(("clone", nr["clone"], 0))
    head.append(("socket", nr["socket"], 0))
    head.extend(("deny", n, 0) for n in denied)

    n_head = len(head)
    # absolute positions
    first_head = 4
    allow_pos = first_head + n_head
    clone_pos = allow_pos + 1
    socket_pos = clone_pos + 3
    eperm_pos = socket_pos + 1 + len(blocked_domains) + 1
    enosys_pos = eperm_pos + 1

    prog: list[bytes] = [
        _insn(_LD_W_ABS, 0, 0, _OFF_ARCH),
        _insn(_JMP_JEQ_K, 1, 0, arch),
        _insn(_RET_K, 0, 0, _RET_KILL_PROCESS),
        _insn(_LD_W_ABS, 0, 0, _OFF_NR),
    ]
    for index, (kind, number, _) in enumerate(head):
        pos = first_head + index

        def rel(target: int, pos: int = pos) -> int:
            return target - pos - 1

        if kind == "x32":
            prog.append(_insn(_JMP_JGE_K, rel(eperm_pos), 0, _X32_SYSCALL_BIT))
        elif kind == "clone3":
            prog.append(_insn(_JMP_JEQ_K, rel(enosys_pos), 0, number))
        elif kind == "clone":
            prog.append(_insn(_JMP_JEQ_K, rel(clone_pos), 0, number))
        elif kind == "socket":
            prog.append(_insn(_JMP_JEQ_K, rel(socket_pos), 0, number))
        else:
            prog.append(_insn(_JMP_JEQ_K, rel(eperm_pos), 0, number))
    prog.append(_insn(_RET_K, 0, 0, _RET_ALLOW))
    # clone: refuse namespace flags
    prog.append(_insn(_LD_W_ABS, 0, 0, _OFF_ARG0))
    prog.append(_insn(_JMP_JSET_K, eperm_pos - (clone_pos + 1) - 1, 0, _NAMESPACE_FLAGS))
    prog.append(_insn(_RET_K, 0, 0, _RET_ALLOW))
    # socket: refuse blocked address families
    prog.append(_insn(_LD_W_ABS, 0, 0, _OFF_ARG0))
    for offset, domain in enumerate(blocked_domains):
        pos = socket_pos + 1 + offset
        prog.append(_insn(_JMP_JEQ_K, eperm_pos - pos - 1, 0, int(domain)))
    prog.append(_insn(_RET_K, 0, 0, _RET_ALLOW))
    assert len(prog) == eperm_pos
    prog.append(_insn(_RET_K, 0, 0, _RET_ERRNO | errno.EPERM))
    prog.append(_insn(_RET_K, 0, 0, _RET_ERRNO | errno.ENOSYS))
    return b"".join(prog)


class _SockFprog(ctypes.Structure):
    _fields_ = (("len", ctypes.c_ushort), ("filter", ctypes.c_void_p))


def prepare(program: bytes) -> Callable[[], None]:
    """Build the kernel structures once; the returned function installs the filter."""
    buf = ctypes.create_string_buffer(program, len(program))
    fprog = _SockFprog(len(program) // 8, ctypes.addressof(buf))
    address = ctypes.addressof(fprog)

    def install_prepared() -> None:
        _keep = (buf, fprog)  # the structures must outlive the call
        _syscalls.prctl(_syscalls.PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, address)

    return install_prepared


def install(program: bytes) -> None:
    """Install ``program`` on this thread (needs no_new_privs or CAP_SYS_ADMIN)."""
    prepare(program)()
