"""Standard library only."""

from __future__ import annotations

import ctypes
import socket
import struct
import urllib.request


def fetch(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.read().decode()


def raw_connect(port: int) -> str:
    """connect() through libc, past Python's audit hook: only the kernel can refuse."""
    libc = ctypes.CDLL(None, use_errno=True)
    fd = libc.socket(socket.AF_INET, socket.SOCK_STREAM, 0)
    if fd < 0:
        return f"socket refused errno {ctypes.get_errno()}"
    address = struct.pack(
        "=HH4s8x", socket.AF_INET, socket.htons(port), socket.inet_aton("127.0.0.1")
    )
    result = libc.connect(fd, address, len(address))
    libc.close(fd)
    return "connected" if result == 0 else f"refused errno {ctypes.get_errno()}"
