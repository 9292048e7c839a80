"""Key store file handling: private folder, atomic replace, inter-process lock.

Writes go to a temporary file in the same folder (created 0600), which is
fsynced, renamed over the store, and the folder fsynced: a crash leaves either
the old or the new file, never half of one. A lock file next to the store
(``keys.enc.lock``) serialises writers across processes; readers need no lock,
since the rename is atomic. ``filelock`` is imported when a write takes the lock.
"""

from __future__ import annotations

import contextlib
import logging
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

from .._errors import KeyStoreError

__all__ = ["FileSignature", "atomic_write", "ensure_private_dir", "locked", "read_file"]

log = logging.getLogger("llf.keys")

FILE_MODE = 0o600
DIR_MODE = 0o700


class FileSignature(NamedTuple):
    """What identifies one version of the file (to know when to re-read it)."""

    inode: int
    size: int
    mtime_ns: int


def ensure_private_dir(folder: Path) -> None:
    """Create ``folder`` with mode 0700, or tighten it to 0700 if others can read it."""
    folder.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
    mode = stat.S_IMODE(folder.stat().st_mode)
    if mode & 0o077:
        log.info("tightening %s from %o to 0700 (it holds the key store)", folder, mode)
        folder.chmod(DIR_MODE)


def read_file(path: Path) -> tuple[bytes, FileSignature] | None:
    """The file's bytes and signature, or ``None`` when it does not exist."""
    try:
        with open(path, "rb") as handle:
            info = os.fstat(handle.fileno())
            blob = handle.read()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise KeyStoreError(
            f"cannot read the key store {path}: {exc.strerror}",
            hint="check the file's owner and permissions (it should be yours, mode 0600)",
            path=str(path),
        ) from None
    if stat.S_IMODE(info.st_mode) & 0o077:
        log.warning(
            "key store %s has mode %o: others may read it; it is rewritten 0600 on next change",
            path,
            stat.S_IMODE(info.st_mode),
        )
    return blob, FileSignature(info.st_ino, info.st_size, info.st_mtime_ns)


def signature(path: Path) -> FileSignature | None:
    """The current signature of ``path`` (``None`` when missing)."""
    try:
        info = path.stat()
    except FileNotFoundError:
        return None
    return FileSignature(info.st_ino, info.st_size, info.st_mtime_ns)


def atomic_write(path: Path, blob: bytes) -> None:
    """Replace ``path`` with ``blob`` atomically and durably, mode 0600."""
    ensure_private_dir(path.parent)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
        try:
            view = memoryview(blob)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            os.fsync(fd)
        finally:
            os.close(fd)
        tmp.replace(path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise KeyStoreError(
            f"cannot write the key store {path}: {exc.strerror}; the old file is unchanged",
            hint="check free disk space and the folder's permissions",
            path=str(path),
        ) from None
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


@contextlib.contextmanager
def locked(path: Path, timeout: float) -> Iterator[None]:
    """Hold the inter-process write lock of the store at ``path``."""
    from filelock import FileLock
    from filelock import Timeout

    ensure_private_dir(path.parent)
    lock = FileLock(str(path) + ".lock", mode=FILE_MODE)
    try:
        lock.acquire(timeout=timeout)
    except Timeout:
        raise KeyStoreError(
            f"the key store {path} is locked by another process (waited {timeout:g} s)",
            hint="wait for the other llf-host command to finish and try again",
            path=str(path),
        ) from None
    try:
        yield
    finally:
        lock.release()
