"""The database file and its connections: creation, pragmas, transactions, errors.

One file, created with mode 0600 before SQLite opens it (SQLite gives the
``-wal`` and ``-shm`` files the same mode). Two aiosqlite connections: a
writer, whose transactions are serialised by an asyncio lock and start with
``BEGIN IMMEDIATE`` (so a second process waits on the busy timeout instead of
failing on a lock upgrade), and a reader, whose snapshots never block the
writer (WAL). Every sqlite3 exception leaves this module as a
:class:`~llf_host.MemoryStoreError` that says what to do.

sqlite3 and aiosqlite are imported when the database opens (on first use), not
when the plugin loads.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING
from typing import Literal

from llf_host import MemoryStoreError

from . import migrations

if TYPE_CHECKING:
    import sqlite3

    import aiosqlite

__all__ = ["Database", "connect_sync", "create_private_file", "translate_errors"]

log = logging.getLogger("llf.plugin.sqlite_memory")

Synchronous = Literal["normal", "full"]


def create_private_file(path: Path) -> None:
    """Create ``path`` with mode 0600 (its folder 0700) unless it exists; tighten it if loose."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
    os.close(fd)
    for candidate in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        try:
            mode = candidate.stat().st_mode & 0o777
        except FileNotFoundError:
            continue
        if mode & 0o077:
            log.warning("%s was readable by others (mode %o); setting it to 0600", candidate, mode)
            candidate.chmod(0o600)


@contextlib.contextmanager
def translate_errors(path: Path) -> Iterator[None]:
    """Turn sqlite3 exceptions into MemoryStoreError with a fix."""
    import sqlite3

    try:
        yield
    except sqlite3.Error as exc:
        raise _memory_error(path, exc) from exc


@contextlib.contextmanager
def _os_errors(path: Path) -> Iterator[None]:
    """Turn a failure to create the file or its folder into MemoryStoreError."""
    try:
        yield
    except OSError as exc:
        raise MemoryStoreError(
            f"cannot create the memory database {path}: {exc.strerror or exc}",
            hint="check that the folder can be created and written, or set "
            "[plugins.sqlite_memory] path to a writable place",
            path=str(path),
            reason=str(exc),
        ) from exc


def _memory_error(path: Path, exc: sqlite3.Error) -> MemoryStoreError:
    import sqlite3

    text = str(exc)
    if "locked" in text or "busy" in text:
        return MemoryStoreError(
            f"the memory database {path} stayed locked by another process",
            hint="retry in a moment; if it persists, look for a stuck llf-host process "
            "or raise [plugins.sqlite_memory] busy_timeout_ms",
            path=str(path),
            reason=text,
        )
    if isinstance(exc, sqlite3.DatabaseError) and (
        "not a database" in text or "malformed" in text or "corrupt" in text
    ):
        return MemoryStoreError(
            f"the memory database {path} is damaged ({text})",
            hint="move the file away to start a fresh one, or restore it from a backup "
            "(`sqlite3 file .recover` can salvage most rows)",
            path=str(path),
            reason=text,
        )
    if "no such module: fts5" in text:
        return MemoryStoreError(
            "this Python's SQLite has no FTS5 full-text search",
            hint="use a Python build whose sqlite3 includes FTS5 (python.org and most "
            "distributions do)",
            path=str(path),
            reason=text,
        )
    if isinstance(exc, sqlite3.OperationalError) and (
        "unable to open" in text or "readonly" in text or "disk" in text
    ):
        return MemoryStoreError(
            f"cannot write the memory database {path}: {text}",
            hint="check the folder exists, is writable and the disk is not full; or set "
            "[plugins.sqlite_memory] path",
            path=str(path),
            reason=text,
        )
    return MemoryStoreError(
        f"the memory database {path} failed: {type(exc).__name__}: {text}",
        hint="this is likely a bug in the sqlite_memory plugin; please report it with the log",
        path=str(path),
        reason=text,
    )


def _pragmas(busy_timeout_ms: int, synchronous: Synchronous) -> list[str]:
    return [
        f"PRAGMA busy_timeout = {int(busy_timeout_ms)}",
        "PRAGMA foreign_keys = ON",
        f"PRAGMA synchronous = {synchronous.upper()}",
        "PRAGMA temp_store = MEMORY",
        "PRAGMA cache_size = -16000",
    ]


def connect_sync(
    path: Path, *, busy_timeout_ms: int = 5000, synchronous: Synchronous = "normal"
) -> sqlite3.Connection:
    """A plain sqlite3 connection configured like the backend's (for migrations, tools)."""
    import sqlite3

    conn = sqlite3.connect(path, isolation_level=None, timeout=busy_timeout_ms / 1000)
    for pragma in _pragmas(busy_timeout_ms, synchronous):
        conn.execute(pragma)
    return conn


def _prepare(path: Path, busy_timeout_ms: int, synchronous: Synchronous) -> int:
    """Create the file, switch to WAL and run pending migrations; returns the version."""
    import fcntl

    create_private_file(path)
    # Switching to WAL and migrating take locks SQLite's busy timeout does not always
    # wait for (two processes opening a new file at once get "database is locked"),
    # so processes take turns here, on a lock file next to the database.
    lock_fd = os.open(f"{path}.open-lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(lock_fd, fcntl.LOCK_EX)
        conn = connect_sync(path, busy_timeout_ms=busy_timeout_ms, synchronous=synchronous)
        try:
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                log.warning("%s: WAL mode unavailable (journal_mode=%s)", path, mode)
            return migrations.migrate(conn)
        finally:
            conn.close()
    finally:
        os.close(lock_fd)


class Database:
    """The memory database: open it, then run reads and write transactions."""

    def __init__(
        self,
        path: Path,
        *,
        busy_timeout_ms: int = 5000,
        synchronous: Synchronous = "normal",
    ) -> None:
        self.path = path
        self.busy_timeout_ms = busy_timeout_ms
        self.synchronous: Synchronous = synchronous
        self.schema_version = 0
        self._writer: aiosqlite.Connection | None = None
        self._reader: aiosqlite.Connection | None = None
        self._write_lock = asyncio.Lock()
        self._read_lock = asyncio.Lock()

    async def open(self) -> None:
        """Create or migrate the file and open both connections (once)."""
        if self._writer is not None:
            return
        with translate_errors(self.path), _os_errors(self.path):
            self.schema_version = await asyncio.to_thread(
                _prepare, self.path, self.busy_timeout_ms, self.synchronous
            )
            self._writer = await self._connect()
            self._reader = await self._connect()
        log.debug("opened %s (schema v%d)", self.path, self.schema_version)

    async def _connect(self) -> aiosqlite.Connection:
        import aiosqlite

        conn = await aiosqlite.connect(str(self.path), isolation_level=None)
        try:
            for pragma in _pragmas(self.busy_timeout_ms, self.synchronous):
                await conn.execute(pragma)
        except BaseException:
            await conn.close()
            raise
        return conn

    async def aclose(self) -> None:
        """Close both connections (idempotent)."""
        for attr in ("_writer", "_reader"):
            conn: aiosqlite.Connection | None = getattr(self, attr)
            setattr(self, attr, None)
            if conn is not None:
                import sqlite3

                with contextlib.suppress(sqlite3.Error, ValueError):
                    await conn.close()

    def _need(self, conn: aiosqlite.Connection | None) -> aiosqlite.Connection:
        if conn is None:
            raise MemoryStoreError(
                f"the memory database {self.path} is not open",
                hint="the host opens the backend on first use; this is a bug in the caller",
                path=str(self.path),
            )
        return conn

    @contextlib.asynccontextmanager
    async def write(self) -> AsyncIterator[aiosqlite.Connection]:
        """One write transaction (``BEGIN IMMEDIATE`` ... ``COMMIT``), serialised in-process."""
        async with self._write_lock:
            conn = self._need(self._writer)
            with translate_errors(self.path):
                await conn.execute("BEGIN IMMEDIATE")
                try:
                    yield conn
                    await conn.execute("COMMIT")
                except BaseException:
                    await _rollback(conn)
                    raise

    @contextlib.asynccontextmanager
    async def read(self) -> AsyncIterator[aiosqlite.Connection]:
        """One consistent read snapshot."""
        async with self._read_lock:
            conn = self._need(self._reader)
            with translate_errors(self.path):
                await conn.execute("BEGIN")
                try:
                    yield conn
                finally:
                    await _rollback(conn)


async def _rollback(conn: aiosqlite.Connection) -> None:
    """End the open transaction without keeping changes, even while being cancelled."""
    import sqlite3

    with contextlib.suppress(sqlite3.Error):
        await asyncio.shield(conn.execute("ROLLBACK"))
