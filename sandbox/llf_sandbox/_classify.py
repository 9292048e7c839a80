"""In the child: turn what a tool raised into an error the host can type.

Standard library only. The kernel says only "permission denied"; to tell the
user *what* was denied and which permission would allow it, the child keeps
the last few relevant actions the tool attempted (through a ``sys.addaudithook``
hook, which sees the path or address before the system call) and matches
them with the exception. The audit hook is diagnostic, not a security layer:
enforcement is Landlock, seccomp and the namespaces. The one exception is the
host-name allow-list for tools granted network access, which Landlock cannot
express (it filters TCP ports only); that check lives here and is documented as
Python-level.
"""

# ruff: noqa: PTH100
# The worker side uses os.path: pathlib (and its imports) would grow the warm
# worker that every call forks from.

from __future__ import annotations

import errno
import os
import socket
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import Any

__all__ = ["ActionLog", "DestinationDenied", "classify_exception", "exception_chain"]

_TRACEBACK_CHARS = 4000


class DestinationDenied(PermissionError):
    """Raised by the audit hook for a network destination the grants do not cover."""

    def __init__(self, host: str, port: int | None) -> None:
        where = f"{host}:{port}" if port is not None else host
        super().__init__(errno.EACCES, f"network destination {where} is not granted")
        self.host = host
        self.port = port


def _host_matches(pattern: str, host: str) -> bool:
    pattern = pattern.lower().strip("[]")
    host = host.lower().strip("[]")
    if pattern == "*":
        return True
    if pattern.startswith("*."):
        return host.endswith(pattern[1:])
    return pattern == host


class ActionLog:
    """The tool's most recent file and network attempts (for diagnostics).

    :param grants: ``(host, port)`` pairs the tool may reach (``port`` None: any),
        or ``None`` when network is not granted at all (the kernel refuses).
    """

    def __init__(self, grants: list[tuple[str, int | None]] | None) -> None:
        self.grants = grants
        self.last_open: tuple[str, str] | None = None
        self.last_network: tuple[str, str, int | None] | None = None
        self.forked = False

    def reset(self) -> None:
        """Forget what was seen before this call (the worker's own activity)."""
        self.last_open = None
        self.last_network = None
        self.forked = False

    def _check_destination(self, host: str, port: int | None) -> None:
        if self.grants is None:
            return
        for pattern, allowed_port in self.grants:
            if _host_matches(pattern, host) and (allowed_port is None or port == allowed_port):
                return
        raise DestinationDenied(host, port)

    def hook(self, event: str, args: tuple[Any, ...]) -> None:
        """The ``sys.addaudithook`` callback."""
        if event == "open":
            path, mode = args[0], args[1]
            if isinstance(path, str):
                self.last_open = (path, str(mode))
        elif event in ("socket.connect", "socket.sendto", "socket.bind"):
            address = args[1]
            if isinstance(address, tuple) and len(address) >= 2:
                host, port = str(address[0]), address[1]
                self.last_network = (event.split(".")[1], host, int(port))
                if event != "socket.bind":
                    self._check_destination(host, int(port))
        elif event == "socket.getaddrinfo":
            host, port = args[0], args[1]
            if isinstance(host, bytes):
                host = host.decode("ascii", "replace")
            if isinstance(host, str):
                port_int = int(port) if isinstance(port, int) else None
                self.last_network = ("resolve", host, port_int)
                self._check_destination(host, port_int)
        elif event == "socket.__new__":
            family = args[1]
            if family in (socket.AF_INET, socket.AF_INET6, -1):
                self.last_network = ("socket", "", None)
        elif event == "os.fork":
            self.forked = True

    def install(self) -> None:
        """Register the hook for the rest of this process's life."""
        sys.addaudithook(self.hook)


def exception_chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and its causes/contexts, outermost first (cycles cut)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _under(path: str, roots: list[str]) -> bool:
    return any(path == root or path.startswith(root.rstrip("/") + "/") for root in roots)


def _denied_filesystem(
    path: str, mode: str, read_roots: list[str], write_roots: list[str]
) -> dict[str, Any] | None:
    full = os.path.abspath(path)
    writing = any(flag in mode for flag in "wax+")
    if _under(full, write_roots):
        return None
    if _under(full, read_roots) and not writing:
        return None
    return {
        "kind": "denied",
        "what": "filesystem",
        "path": full,
        "access": "write" if writing else "read",
        "permission": "filesystem",
    }


def classify_exception(
    exc: BaseException,
    actions: ActionLog,
    *,
    read_roots: list[str],
    write_roots: list[str],
    network_granted: bool,
) -> dict[str, Any]:
    """The error object for a frame: ``kind`` plus what the host needs to type it."""
    for item in exception_chain(exc):
        if isinstance(item, DestinationDenied):
            return {
                "kind": "denied",
                "what": "network",
                "host": item.host,
                "port": item.port,
                "permission": "network",
            }
        if isinstance(item, MemoryError):
            return {"kind": "resource_limit", "limit": "memory_mb"}
        if isinstance(item, RecursionError):
            return {"kind": "resource_limit", "limit": "recursion"}
        if isinstance(item, socket.gaierror) and not network_granted:
            return _network_denied(actions)
        if not isinstance(item, OSError):
            continue
        code = item.errno
        if code == errno.EFBIG:
            return {"kind": "resource_limit", "limit": "file_size_mb"}
        if code in (errno.ENOSPC, errno.EDQUOT):
            return {"kind": "resource_limit", "limit": "workdir_mb"}
        if code in (errno.EMFILE, errno.ENFILE):
            return {"kind": "resource_limit", "limit": "open_files"}
        if code == errno.EAGAIN and actions.forked:
            return {"kind": "resource_limit", "limit": "processes"}
        if code in (errno.ENETUNREACH, errno.EHOSTUNREACH) and not network_granted:
            return _network_denied(actions)
        if code in (errno.EACCES, errno.EPERM, errno.EROFS):
            if item.filename is not None:
                found = _denied_filesystem(
                    os.fsdecode(item.filename), _mode_for(item, actions), read_roots, write_roots
                )
                if found is not None:
                    return found
            elif (actions.last_network is not None and not network_granted) or _socket_frame(item):
                return _network_denied(actions)
    import traceback

    return {
        "kind": "raised",
        "exception": type(exc).__name__,
        "message": str(exc)[:2000],
        "traceback": "".join(traceback.format_exception(exc))[-_TRACEBACK_CHARS:],
    }


def _mode_for(item: OSError, actions: ActionLog) -> str:
    if actions.last_open is not None and item.filename is not None:
        path, mode = actions.last_open
        if os.fsdecode(item.filename) == path:
            return mode
    return "r"


def _socket_frame(item: BaseException) -> bool:
    import traceback

    frames = traceback.extract_tb(item.__traceback__)
    return any(frame.filename.endswith("socket.py") for frame in frames[-3:])


def _network_denied(actions: ActionLog) -> dict[str, Any]:
    out: dict[str, Any] = {"kind": "denied", "what": "network", "permission": "network"}
    if actions.last_network is not None:
        _op, host, port = actions.last_network
        out["host"] = host
        out["port"] = port
    return out
