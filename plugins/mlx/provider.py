"""The ``mlx`` provider: MLX-format models in process with mlx-lm.

Model ids are ``mlx/<name>``. Each loaded model gets a single-thread executor:
loading and every generation run on that one thread, one request at a time in
arrival order (mlx-lm models keep per-generation state and are not meant to be
driven from two threads at once). Cancelling a request stops it between tokens.
"""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import threading
import time
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING
from typing import Any
from typing import final

import msgspec

from llf_host import ChatChunk
from llf_host import ChatRequest
from llf_host import HealthStatus
from llf_host import LLMError
from llf_host import ModelInfo
from llf_host import Provider
from llf_host import ProviderError
from llf_host import ProviderUnavailableError

from .settings import MlxSettings
from .settings import ModelCatalog

if TYPE_CHECKING:
    from .engine import MlxModel

__all__ = ["MlxProvider"]

log = logging.getLogger("llf.plugin.mlx")

_INSTALL_HINT = "install with pip install 'llf-host[mlx]' (on Linux it brings mlx[cpu])"

#: Engine extras accepted in ``options.extra``.
EXTRA_OPTIONS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "top_k": {"type": "integer", "minimum": 0, "default": 0, "description": "0 = off"},
        "min_p": {"type": "number", "minimum": 0, "maximum": 1, "default": 0.0},
        "repetition_penalty": {
            "type": "number",
            "minimum": 0,
            "description": "Penalise recently generated tokens (1.0 = off).",
        },
    },
    "additionalProperties": True,
}


class _Extras(msgspec.Struct):
    top_k: int = 0
    min_p: float = 0.0
    repetition_penalty: float | None = None


def _mlx_installed() -> bool:
    try:
        return importlib.util.find_spec("mlx_lm") is not None
    except (ImportError, ValueError):
        return False


@final
class _Loaded:
    """A model loaded on its own single-thread executor."""

    def __init__(self, name: str, executor: ThreadPoolExecutor, model: MlxModel) -> None:
        self.name = name
        self.executor = executor
        self.model = model


class MlxProvider(Provider):
    """MLX-format models through mlx-lm, one worker thread per loaded model."""

    prefix = "mlx"
    description = "MLX-format models in process (mlx-lm)"

    def __init__(self, settings: MlxSettings) -> None:
        self.settings = settings
        self.catalog = ModelCatalog(settings)
        self._loaded: dict[str, _Loaded] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def list_models(self) -> list[ModelInfo]:
        """Configured and discovered model folders."""
        infos = []
        for name, spec in self.catalog.models().items():
            path = Path(spec.path).expanduser()
            size = (
                sum(p.stat().st_size for p in path.glob("*.safetensors")) if path.is_dir() else None
            )
            infos.append(
                ModelInfo(
                    id=f"mlx/{name}",
                    name=name,
                    provider=self.prefix,
                    local=True,
                    loaded=name in self._loaded,
                    size_bytes=size or None,
                    capabilities=["chat", "stream"],
                    description=spec.description,
                    details={"path": str(path)},
                )
            )
        return infos

    async def refresh(self) -> list[ModelInfo]:
        """Rescan the model folders, then list."""
        self.catalog.refresh()
        return await self.list_models()

    async def health(self) -> HealthStatus:
        """Down (with the install command) when mlx-lm is missing."""
        if not _mlx_installed():
            return HealthStatus(state="down", message=f"mlx-lm is not installed; {_INSTALL_HINT}")
        return HealthStatus(state="ready", message=f"{len(self._loaded)} model(s) loaded")

    def options_schema(self) -> dict[str, Any]:
        """JSON Schema of the sampler extras in ``options.extra``."""
        return EXTRA_OPTIONS_SCHEMA

    async def chat(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        """Stream an answer; usage, tokens/s and peak memory come on the last chunk."""
        from .engine import GenerationPayload
        from .engine import generate

        submitted = time.perf_counter()
        options = request.options
        try:
            extras = msgspec.convert(
                {k: v for k, v in options.extra.items() if k in _Extras.__struct_fields__},
                _Extras,
                strict=False,
            )
        except msgspec.ValidationError as exc:
            raise ProviderError(f"invalid mlx option: {exc}", hint="see docs/engines.md") from None
        loaded, load_ms = await self._load(request.model)
        payload = GenerationPayload(
            messages=[_message_dict(m) for m in msgspec.to_builtins(request.messages)],
            temperature=0.8 if options.temperature is None else float(options.temperature),
            top_p=1.0 if options.top_p is None else float(options.top_p),
            max_tokens=self.settings.max_tokens
            if options.max_tokens is None
            else options.max_tokens,
            stop=[s for s in options.stop or [] if s],
            seed=options.seed if options.seed is not None else self.settings.seed,
            top_k=extras.top_k,
            min_p=extras.min_p,
            repetition_penalty=extras.repetition_penalty,
            max_kv_size=self.settings.max_kv_size,
            submitted_at=submitted,
            load_ms=load_ms,
        )
        loop = asyncio.get_running_loop()
        sink: asyncio.Queue[object] = asyncio.Queue()
        cancel = threading.Event()

        def emit(item: object) -> None:
            try:
                loop.call_soon_threadsafe(sink.put_nowait, item)
            except RuntimeError:
                cancel.set()

        loaded.executor.submit(generate, loaded.model, payload, emit, cancel)
        try:
            while True:
                item = await sink.get()
                if isinstance(item, BaseException):
                    raise (
                        item
                        if isinstance(item, LLMError)
                        else ProviderError(
                            f"mlx/{request.model} failed: {type(item).__name__}: {item}",
                            hint="see the log (--debug) for details",
                            model=f"mlx/{request.model}",
                        )
                    )
                assert isinstance(item, ChatChunk)
                yield item
                if item.finish_reason is not None:
                    return
        finally:
            cancel.set()

    async def unload(self, model: str) -> bool:
        """Unload ``model``; False when it was not loaded. Queued requests finish first."""
        from .engine import release

        loaded = self._loaded.pop(model, None)
        if loaded is None:
            return False
        future = loaded.executor.submit(release, loaded.model)
        loaded.executor.shutdown(wait=False)
        await asyncio.wrap_future(future)
        return True

    async def aclose(self) -> None:
        """Unload every model."""
        for name in list(self._loaded):
            await self.unload(name)

    async def _load(self, name: str) -> tuple[_Loaded, float]:
        from .engine import load

        if name in self._loaded:
            return self._loaded[name], 0.0
        spec = self.catalog.get(name)
        if not _mlx_installed():
            raise ProviderUnavailableError(
                "mlx-lm is not installed", hint=_INSTALL_HINT, model=f"mlx/{name}"
            )
        async with self._locks.setdefault(name, asyncio.Lock()):
            if name in self._loaded:
                return self._loaded[name], 0.0
            start = time.perf_counter()
            executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"mlx:{name}")
            try:
                model = await asyncio.wrap_future(executor.submit(load, name, spec))
            except BaseException:
                executor.shutdown(wait=False)
                raise
            self._loaded[name] = _Loaded(name, executor, model)
            return self._loaded[name], (time.perf_counter() - start) * 1000


def _message_dict(message: dict[str, Any]) -> dict[str, Any]:
    message.setdefault("content", "")
    if message["content"] is None:
        message["content"] = ""
    return message
