"""Framing shared by the host side and the worker: 4-byte length prefix + JSON.

Standard library only. Two channels use it:

* the **control channel** (a Unix stream socket between the host and a warm
  worker) carries small JSON messages; a ``call`` message brings the call's
  pipe ends along as ``SCM_RIGHTS`` ancillary data;
* the **result channel** (one pipe per call) carries exactly one frame written
  by the child: ``{"ok": true, "result": ...}`` or ``{"ok": false, "error": {...}}``.

Lengths are unsigned big-endian 32-bit; a reader refuses a length above its cap
before reading the body, so a forged prefix cannot make the host allocate.
"""

from __future__ import annotations

import array
import json
import os
import socket
import struct

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

__all__ = [
    "HEADER",
    "MAX_CONTROL_BYTES",
    "ControlReader",
    "encode_frame",
    "encode_json",
    "key_from_wire",
    "send_message",
    "spare_key",
    "write_all",
]

HEADER = struct.Struct(">I")
#: Largest control message accepted (arguments travel in it).
MAX_CONTROL_BYTES = 64 * 1024 * 1024
_MAX_FDS = 8


def spare_key(limits: dict[str, Any]) -> tuple[float, int]:
    """The part of a call's limits a spare child is prepared for, before the call.

    The tmpfs size and the cgroup's ``pids.max`` are fixed while the spare still
    holds the privileges to set them; every other limit is applied on arrival.
    """
    return float(limits.get("workdir_mb") or 128), int(limits.get("processes") or 64)


def key_from_wire(value: Any) -> tuple[float, int]:
    """A spare key as a control message carries it (``[workdir_mb, processes]``)."""
    workdir_mb, processes = value
    return float(workdir_mb), int(processes)


def encode_json(value: Any) -> bytes:
    """Strict, compact JSON (no NaN/Infinity, UTF-8)."""
    return json.dumps(value, allow_nan=False, ensure_ascii=False, separators=(",", ":")).encode(
        "utf-8"
    )


def encode_frame(payload: bytes) -> bytes:
    """Length prefix + payload."""
    return HEADER.pack(len(payload)) + payload


def write_all(fd: int, data: bytes) -> None:
    """Write every byte to a blocking fd."""
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def send_message(sock: socket.socket, message: dict[str, Any], fds: Sequence[int] = ()) -> None:
    """Send one control message on a blocking socket, with ``fds`` attached."""
    data = encode_frame(encode_json(message))
    if fds:
        sent = sock.sendmsg([data], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds))])
        data = data[sent:]
    if data:
        sock.sendall(data)


class ControlReader:
    """Splits a byte stream (with received fds) into messages.

    Feed it what ``recvmsg`` returned; :meth:`messages` yields complete messages.
    File descriptors are queued in arrival order and handed out with the message
    that declares ``"fds": n``.
    """

    def __init__(self, max_bytes: int = MAX_CONTROL_BYTES) -> None:
        self._buffer = bytearray()
        self._fds: list[int] = []
        self._max = max_bytes

    def feed(self, data: bytes, ancdata: list[tuple[int, int, bytes]]) -> None:
        """Add received bytes and any SCM_RIGHTS fds."""
        self._buffer += data
        for level, kind, payload in ancdata:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                fds = array.array("i")
                fds.frombytes(payload[: len(payload) - (len(payload) % fds.itemsize)])
                self._fds.extend(fds)

    def messages(self) -> list[tuple[dict[str, Any], list[int]]]:
        """Every complete message so far, each with the fds it declared."""
        out: list[tuple[dict[str, Any], list[int]]] = []
        while len(self._buffer) >= HEADER.size:
            (length,) = HEADER.unpack_from(self._buffer)
            if length > self._max:
                raise ValueError(f"control message of {length} bytes exceeds the cap")
            if len(self._buffer) < HEADER.size + length:
                break
            body = bytes(self._buffer[HEADER.size : HEADER.size + length])
            del self._buffer[: HEADER.size + length]
            message = json.loads(body)
            if not isinstance(message, dict):
                raise ValueError("control message is not an object")
            wanted = int(message.get("fds", 0))
            if wanted > len(self._fds) or wanted > _MAX_FDS:
                raise ValueError("control message declared fds that did not arrive")
            fds, self._fds = self._fds[:wanted], self._fds[wanted:]
            out.append((message, fds))
        return out

    @staticmethod
    def ancillary_size() -> int:
        """Buffer size for ``recvmsg`` ancillary data."""
        return socket.CMSG_SPACE(_MAX_FDS * array.array("i").itemsize)

    def close_pending(self) -> None:
        """Close fds that no message claimed (on shutdown)."""
        for fd in self._fds:
            try:
                os.close(fd)
            except OSError:
                pass
        self._fds.clear()
