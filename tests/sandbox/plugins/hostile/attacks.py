"""Hostile tools. Each is bounded by the sandbox limits set in plugin.toml (and the
tests give every call a small marker so leftover processes can be found)."""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import sys
import time


def _mark(marker: str) -> None:
    """Put ``marker`` in /proc/self/comm so the test can find this process."""
    libc = ctypes.CDLL(None)
    libc.prctl(15, ctypes.c_char_p(marker.encode()[:15]), 0, 0, 0)  # PR_SET_NAME


def benign(x: int = 1) -> dict:
    """A well-behaved tool."""
    return {"x": x, "pid": os.getpid()}


def cpu_loop() -> None:
    while True:
        pass


def memory_bomb() -> int:
    hoard = []
    while True:
        hoard.append(bytearray(16 * 1024 * 1024))


def fork_bomb(marker: str) -> int:
    started = 0
    for _ in range(10_000):
        try:
            pid = os.fork()
        except OSError:
            break
        if pid == 0:
            os.setsid()
            _mark(marker)
            time.sleep(300)
            os._exit(0)
        started += 1
    return started


def disk_fill() -> int:
    written = 0
    for i in range(10_000):
        with open(f"fill-{i}.bin", "wb") as handle:
            handle.write(b"x" * (1024 * 1024))
        written += 1
    return written


def big_file() -> int:
    with open("big.bin", "wb") as handle:
        for _ in range(100):
            handle.write(b"x" * (1024 * 1024))
    return 100


def write_outside(path: str) -> str:
    with open(path, "w") as handle:
        handle.write("pwned")
    return "written"


def read_secret(path: str) -> str:
    with open(path) as handle:
        return handle.read()


def read_env() -> dict:
    return dict(os.environ)


def tcp_connect(port: int) -> str:
    with socket.create_connection(("127.0.0.1", port), timeout=2) as conn:
        conn.sendall(b"stolen")
    return "connected"


def udp_send(port: int) -> str:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.sendto(b"stolen", ("127.0.0.1", port))
    return "sent"


def daemon(marker: str) -> str:
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            _mark(marker)
            time.sleep(300)
        os._exit(0)
    return "daemonized"


def flood_stdout() -> str:
    chunk = "x" * (1024 * 1024)
    for _ in range(100):
        sys.stdout.write(chunk)
    sys.stdout.flush()
    return "flooded"


def _result_fds() -> list[int]:
    found = []
    for fd in range(3, 64):
        try:
            os.fstat(fd)
        except OSError:
            continue
        found.append(fd)
    return found


def garbage_frame() -> str:
    for fd in _result_fds():
        os.write(fd, b"\x00\x00\x00\x05not json at all")
    return "fine"


def forged_frame() -> str:
    body = b'{"ok":true,"result":"forged"}'
    for fd in _result_fds():
        os.write(fd, len(body).to_bytes(4, "big") + body)
    return "real"


def huge_frame_header() -> str:
    for fd in _result_fds():
        os.write(fd, b"\xff\xff\xff\xff")
    time.sleep(300)
    return "never"


def sleep_forever() -> None:
    time.sleep(3600)


def ignore_sigterm() -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    time.sleep(3600)


def segfault() -> None:
    ctypes.string_at(0)


def deep_recursion() -> int:
    sys.setrecursionlimit(1_000_000)

    def down(n: int) -> int:
        return down(n + 1) + 1

    return down(0)


def plain_recursion() -> int:
    def down(n: int) -> int:
        return down(n + 1) + 1

    return down(0)


def non_json() -> object:
    return {"a set": {1, 2, 3}}


def nan_result() -> float:
    return float("nan")


def _read(path: str, size: int) -> bytes:
    with open(path, "rb") as handle:
        return handle.read(size)


def attack_host(host_pid: int) -> dict:
    attempts = {}
    for name, action in {
        "read_environ": lambda: _read(f"/proc/{host_pid}/environ", 100),
        "read_mem": lambda: _read(f"/proc/{host_pid}/mem", 1),
        "read_cmdline": lambda: _read(f"/proc/{host_pid}/cmdline", 100),
        "signal": lambda: os.kill(host_pid, signal.SIGTERM),
        "signal_zero": lambda: os.kill(host_pid, 0),
        "ptrace": lambda: ctypes.CDLL(None, use_errno=True).ptrace(16, host_pid, 0, 0),
    }.items():
        try:
            out = action()
            attempts[name] = "succeeded" if out not in (-1,) else "failed: -1"
        except OSError as exc:
            attempts[name] = f"failed: {exc.strerror}"
    return attempts


def io_uring() -> str:
    libc = ctypes.CDLL(None, use_errno=True)
    params = ctypes.create_string_buffer(120)
    fd = libc.syscall(425, 8, params)
    return "ok" if fd >= 0 else f"refused errno {ctypes.get_errno()}"


def unshare_user() -> str:
    libc = ctypes.CDLL(None, use_errno=True)
    result = libc.unshare(0x10000000)
    return "ok" if result == 0 else f"refused errno {ctypes.get_errno()}"
