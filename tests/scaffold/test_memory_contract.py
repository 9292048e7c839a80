"""The generated memory backend passes the same contract tests as the built-in ones.

The tests of ``tests/memory/test_contract.py`` are collected here a second time,
with a ``backend`` fixture that loads the generated plugin into a host.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from llf_host import MemoryBackend
from llf_host.testing import isolated_host
from tests.memory import test_contract as contract

from .helpers import module_of

globals().update(
    {name: getattr(contract, name) for name in dir(contract) if name.startswith("test_")}
)


@pytest.fixture
async def backend(tmp_path, dropins) -> AsyncIterator[MemoryBackend]:
    name = module_of("memory")
    config = {"host": {"memory_backend": name}}
    async with isolated_host(tmp_path / "home", plugins=[dropins["memory"]], config=config) as host:
        made = host.registry.memory_backend(name).obj
        await made.open()
        yield made
        await made.aclose()
