"""Fixtures for the memory tests: backends on real SQLite files, and the in-memory one."""

from __future__ import annotations

from collections.abc import AsyncIterator
from collections.abc import Awaitable
from collections.abc import Callable
from pathlib import Path

import pytest

from llf_host import MemoryBackend
from llf_host.builtin_plugins.sqlite_memory.backend import SQLiteMemoryBackend
from llf_host.testing import InMemoryBackend

#: The built-in plugin folder, loaded by tests through the drop-in path.
PLUGIN_DIR = Path(__file__).resolve().parents[2] / "plugins" / "sqlite_memory"

BackendFactory = Callable[[], Awaitable[MemoryBackend]]


@pytest.fixture
async def open_backends() -> AsyncIterator[list[MemoryBackend]]:
    """Backends opened by a test, closed after it."""
    opened: list[MemoryBackend] = []
    yield opened
    for backend in opened:
        await backend.aclose()


@pytest.fixture
def sqlite_factory(
    tmp_path: Path, open_backends: list[MemoryBackend]
) -> Callable[..., Awaitable[SQLiteMemoryBackend]]:
    """``await sqlite_factory(path=None)``: an open SQLite backend on a real file."""

    async def factory(path: Path | None = None) -> SQLiteMemoryBackend:
        backend = SQLiteMemoryBackend(path or tmp_path / "memory.db")
        await backend.open()
        open_backends.append(backend)
        return backend

    return factory


@pytest.fixture
async def sqlite_backend(
    sqlite_factory: Callable[..., Awaitable[SQLiteMemoryBackend]],
) -> SQLiteMemoryBackend:
    """An open SQLite backend on a fresh file."""
    return await sqlite_factory()


@pytest.fixture(params=["sqlite", "memory"])
async def backend(
    request: pytest.FixtureRequest, tmp_path: Path, open_backends: list[MemoryBackend]
) -> MemoryBackend:
    """Each backend that implements the contract, opened on a fresh store."""
    made: MemoryBackend
    if request.param == "sqlite":
        made = SQLiteMemoryBackend(tmp_path / "memory.db")
    else:
        made = InMemoryBackend()
    await made.open()
    open_backends.append(made)
    return made
