"""The log file: appending sealed records under a lock, and the head file.

Writers in several processes (a ``serve`` session and a CLI command, say) share
one log: each batch is appended under an exclusive ``flock``, chained to the last
record actually in the file. After the records are fsync'd, the head file
(``<log>.head``) is replaced atomically with the last record's ``seq`` and
``hash``; ``llf-host audit verify`` compares the log's end with it, which is how
a truncated log is told apart from a short one.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
from pathlib import Path
from typing import Any

from .chain import GENESIS
from .chain import canonical
from .chain import seal

log = logging.getLogger("llf.plugin.audit_log")

#: How far back from the end to look for the last intact record.
_TAIL_SCAN_BYTES = 1 << 20


def head_path(path: Path) -> Path:
    """Where the head of the log at ``path`` is kept."""
    return path.with_name(path.name + ".head")


def _last_record(fd: int, size: int) -> tuple[int, str, bool]:
    """(seq, hash) of the last intact record, and whether the file ends mid-line."""
    if size == 0:
        return 0, GENESIS, False
    start = max(0, size - _TAIL_SCAN_BYTES)
    tail = os.pread(fd, size - start, start)
    partial = not tail.endswith(b"\n")
    lines = tail.split(b"\n")
    if start > 0:
        lines = lines[1:]  # the first one is cut by the scan window
    for line in reversed(lines):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if (
            isinstance(record, dict)
            and isinstance(record.get("seq"), int)
            and isinstance(record.get("hash"), str)
        ):
            return record["seq"], record["hash"], partial
    log.warning("audit log has no intact record in its last %d bytes", len(tail))
    return 0, GENESIS, partial


def _write_head(path: Path, seq: int, digest: str) -> None:
    head = head_path(path)
    tmp = head.with_name(head.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, (canonical({"seq": seq, "hash": digest}) + "\n").encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)
    tmp.replace(head)


class LogFile:
    """Appends batches of records to one JSON Lines file (0600, append-only)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        #: (file size, seq, hash) after our last write: skip re-reading the tail
        #: when nobody else wrote since.
        self._known: tuple[int, int, str] | None = None

    def _open(self) -> int:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
        mode = os.fstat(fd).st_mode & 0o777
        if mode & 0o077:
            log.warning("audit log %s was mode %o; tightening to 0600", self.path, mode)
            os.fchmod(fd, 0o600)
        return fd

    def append(self, events: list[dict[str, Any]]) -> int:
        """Seal ``events`` (kind, plugin, session, time, data) onto the chain; return the last seq.

        Blocking: call it from a thread. The records are fsync'd before it returns.
        """
        fd = self._open()
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            size = os.fstat(fd).st_size
            if self._known is not None and self._known[0] == size:
                _size, seq, prev = self._known
                partial = False
            else:
                seq, prev, partial = _last_record(fd, size)
            chunks: list[bytes] = [b"\n"] if partial else []
            pid = os.getpid()
            for event in events:
                seq += 1
                record = seal(seq=seq, prev=prev, pid=pid, **event)
                prev = record["hash"]
                chunks.append((canonical(record) + "\n").encode("utf-8"))
            payload = b"".join(chunks)
            written = 0
            while written < len(payload):
                written += os.write(fd, payload[written:])
            os.fsync(fd)
            _write_head(self.path, seq, prev)
            self._known = (size + len(payload), seq, prev)
            return seq
        finally:
            os.close(fd)  # closing releases the lock
