"""The ``llama_cpp`` provider: GGUF models served in process, warm across requests.

Model ids are ``llama_cpp/<name>``; ``llama_cpp/default`` is the default model
(the embedded Gemma 3 270M unless configured). Besides the :class:`Provider`
contract it offers :meth:`LlamaCppProvider.complete_batch` (many prompts, one
load, other models not blocked), :meth:`~LlamaCppProvider.unload`,
:meth:`~LlamaCppProvider.refresh`, :meth:`~LlamaCppProvider.prepare` (assemble
the embedded model with a progress callback) and
:meth:`~LlamaCppProvider.render_prompt` (the exact prompt text a model sees).
"""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import time
from collections.abc import AsyncIterator
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import msgspec

from llf_host import ChatChunk
from llf_host import ChatOptions
from llf_host import ChatRequest
from llf_host import ChatResult
from llf_host import HealthStatus
from llf_host import HostPaths
from llf_host import LLMError
from llf_host import Message
from llf_host import ModelInfo
from llf_host import Provider
from llf_host import ProviderError
from llf_host import ProviderUnavailableError
from llf_host import Timings
from llf_host import Usage

from .catalog import DEFAULT_ALIAS
from .catalog import Catalog
from .catalog import ModelEntry
from .embedded import ProgressCallback
from .embedded import embedded_target
from .embedded import ensure_embedded_model
from .gguf_meta import GGUFError
from .gguf_meta import read_gguf_metadata
from .pool import ModelPool
from .pool import Worker
from .pool import default_budget_bytes
from .sampling import EXTRA_OPTIONS_SCHEMA
from .sampling import plan_sampling
from .settings import LlamaCppSettings
from .worker import BATCH
from .worker import INTERACTIVE
from .worker import Job
from .worker import WorkerClosed
from .worker import asyncio_emitter

__all__ = ["LlamaCppProvider"]

log = logging.getLogger("llf.plugin.llama_cpp")

_INSTALL_HINT = "install with pip install 'llf-host[local]'"


def _llama_installed() -> bool:
    try:
        return importlib.util.find_spec("llama_cpp") is not None
    except (ImportError, ValueError):
        return False


def _message_dict(message: Message) -> dict[str, Any]:
    data: dict[str, Any] = msgspec.to_builtins(message)
    data.setdefault("content", "")
    if data["content"] is None:
        data["content"] = ""
    return data


class LlamaCppProvider(Provider):
    """GGUF models in process through llama-cpp-python (one worker thread per model)."""

    prefix = "llama_cpp"
    description = "GGUF models in process (llama-cpp-python), embedded Gemma 3 270M default"

    def __init__(
        self,
        settings: LlamaCppSettings,
        *,
        cache_dir: Path | None = None,
        config_dir: Path | None = None,
    ) -> None:
        self.settings = settings
        self._cache_dir = cache_dir
        self.catalog = Catalog(settings, config_dir)
        self.pool = ModelPool(
            budget_bytes=default_budget_bytes(settings.memory_budget_mb),
            max_queue=settings.max_queue,
        )
        self._header_cache: dict[tuple[str, int], dict[str, Any]] = {}

    # -- where things live ----------------------------------------------------------
    def set_host_dirs(self, cache_dir: Path, config_dir: Path) -> None:
        """Called at host start-up: the host's cache and config folders."""
        self._cache_dir = cache_dir
        self.catalog = Catalog(self.settings, config_dir)

    @property
    def cache_dir(self) -> Path:
        """Where the embedded model is assembled (``<host cache>/models`` by default)."""
        if self.settings.cache_dir:
            return Path(self.settings.cache_dir).expanduser()
        if self._cache_dir is not None:
            return self._cache_dir
        return HostPaths.from_env().cache_dir / "models"

    # -- Provider contract -------------------------------------------------------------
    async def list_models(self) -> list[ModelInfo]:
        """Configured, discovered and embedded models, with load state."""
        entries = self.catalog.entries()
        default = self.catalog.default_name()
        return [self._info(entry, default) for entry in entries.values()]

    async def refresh(self) -> list[ModelInfo]:
        """Rescan configured paths and model folders, then list."""
        self.catalog.refresh()
        return await self.list_models()

    async def health(self) -> HealthStatus:
        """Down (with the install command) when llama-cpp-python is missing."""
        if not _llama_installed():
            return HealthStatus(
                state="down",
                message=f"llama-cpp-python is not installed; {_INSTALL_HINT}",
            )
        loaded = list(self.pool.loaded())
        return HealthStatus(
            state="ready",
            message=f"{len(loaded)} model(s) loaded",
            details={"loaded": [f"llama_cpp/{n}" for n in loaded]},
        )

    def options_schema(self) -> dict[str, Any]:
        """JSON Schema of the llama.cpp sampler options accepted in ``options.extra``."""
        return EXTRA_OPTIONS_SCHEMA

    async def chat(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        """Stream an answer; usage and timings arrive on the last chunk."""
        submitted = time.perf_counter()
        plan = plan_sampling(request.options, self.settings.max_tokens)
        entry = self.catalog.get(request.model)
        worker, load_ms = await self._acquire(entry)
        state = worker.state
        tools = [t.to_openai() for t in request.tools]
        if tools and (state is None or not state.chat_format.passthrough):
            log.debug(
                "llama_cpp/%s ignores %d tool(s): its chat format has no tool calling "
                '(set chat_format = "llama_cpp:chatml-function-calling" to enable it)',
                entry.name,
                len(tools),
            )
            tools = []
        from .engine import ChatPayload

        payload = ChatPayload(
            messages=[_message_dict(m) for m in request.messages],
            plan=plan,
            tools=tools,
            load_ms=load_ms,
        )
        async for chunk in self._stream(entry, worker, payload, INTERACTIVE, submitted):
            yield chunk

    async def aclose(self) -> None:
        """Unload every model (each worker finishes its queued requests first)."""
        await self.pool.aclose()

    # -- extras ---------------------------------------------------------------------------
    async def prepare(self, model: str, progress: ProgressCallback | None = None) -> Path:
        """Make sure ``model``'s file exists (assembling the embedded one); return its path."""
        if not _llama_installed():
            raise ProviderUnavailableError(
                "llama-cpp-python is not installed", hint=_INSTALL_HINT, provider=self.prefix
            )
        entry = self.catalog.get(model)
        return await asyncio.to_thread(self._model_path, entry, progress)

    async def unload(self, model: str) -> bool:
        """Unload ``model`` now; False when it was not loaded."""
        name = self.catalog.default_name() if model == DEFAULT_ALIAS else model
        return await self.pool.unload(name or model)

    async def render_prompt(self, model: str, messages: Sequence[Message]) -> str:
        """The exact prompt text ``model`` would be given for ``messages`` (loads it)."""
        worker, _ = await self._acquire(self.catalog.get(model))
        state = worker.state
        if state is None:
            raise ProviderError(f"llama_cpp/{model} was unloaded", hint="try again")
        if state.chat_format.passthrough:
            raise ProviderError(
                f"llama_cpp/{model} uses {state.chat_format.name}, rendered by llama-cpp-python",
                hint="render_prompt works with GGUF templates and the built-in formats",
            )
        return state.chat_format.render([_message_dict(m) for m in messages]).text

    async def complete_batch(
        self,
        model: str,
        prompts: Sequence[str | Sequence[Message]],
        options: ChatOptions | None = None,
        *,
        concurrency: int | None = None,
    ) -> list[ChatResult | LLMError]:
        """Answer many prompts with one loaded model; results in input order.

        Each prompt is a string (one user message) or a list of messages. The
        model loads once; items run one after another on its worker at batch
        priority, so an interactive request to the same model goes ahead of the
        remaining items, and other models are not blocked at all. A failing item
        gives its :class:`~llf_host.LLMError` in its slot; the others still run.
        """
        entry = self.catalog.get(model)
        plan = plan_sampling(options or ChatOptions(), self.settings.max_tokens)
        worker, load_ms = await self._acquire(entry)
        window = asyncio.Semaphore(concurrency or max(1, self.settings.max_queue // 2))
        from .engine import ChatPayload

        async def one(index: int, prompt: str | Sequence[Message]) -> ChatResult | LLMError:
            messages = [Message(role="user", content=prompt)] if isinstance(prompt, str) else prompt
            payload = ChatPayload(
                messages=[_message_dict(m) for m in messages],
                plan=plan,
                load_ms=load_ms if index == 0 else 0.0,
            )
            async with window:
                try:
                    return await self._collect(entry, worker, payload)
                except LLMError as exc:
                    return exc

        return list(await asyncio.gather(*(one(i, p) for i, p in enumerate(prompts))))

    # -- internals ------------------------------------------------------------------------
    def _model_path(self, entry: ModelEntry, progress: ProgressCallback | None = None) -> Path:
        if entry.path is not None:
            return entry.path
        return ensure_embedded_model(self.cache_dir, progress)

    async def _acquire(self, entry: ModelEntry) -> tuple[Worker, float]:
        async def make_spec() -> Any:
            path = await asyncio.to_thread(self._model_path, entry)
            return self._load_spec(entry, path)

        return await self.pool.acquire(entry.name, make_spec)

    def _load_spec(self, entry: ModelEntry, path: Path) -> Any:
        from .engine import LoadSpec

        s = self.settings
        m = entry.settings
        return LoadSpec(
            name=entry.name,
            path=str(path),
            n_ctx=m.n_ctx if m and m.n_ctx is not None else s.n_ctx,
            n_batch=s.n_batch,
            n_threads=s.threads(m),
            n_threads_batch=s.threads_batch(m),
            n_gpu_layers=m.n_gpu_layers if m and m.n_gpu_layers is not None else s.n_gpu_layers,
            flash_attn=s.flash_attn,
            use_mmap=s.use_mmap,
            use_mlock=s.use_mlock,
            chat_format=(m.chat_format if m and m.chat_format else s.chat_format),
            seed=s.seed,
            verbose=s.verbose,
            lora_path=str(Path(m.lora_path).expanduser()) if m and m.lora_path else None,
            lora_scale=m.lora_scale if m else 1.0,
        )

    async def _stream(
        self,
        entry: ModelEntry,
        worker: Worker,
        payload: Any,
        priority: int,
        submitted: float,
    ) -> AsyncIterator[ChatChunk]:
        loop = asyncio.get_running_loop()
        sink: asyncio.Queue[object] = asyncio.Queue()
        job = Job(payload, asyncio_emitter(loop, sink), priority)
        job.submitted_at = submitted
        try:
            worker.submit(job)
        except WorkerClosed:
            worker, _ = await self._acquire(entry)
            worker.submit(job)
        try:
            while True:
                item = await sink.get()
                if isinstance(item, BaseException):
                    raise _translate(item, entry.name)
                assert isinstance(item, ChatChunk)
                yield item
                if item.finish_reason is not None:
                    return
        finally:
            job.cancel()

    async def _collect(self, entry: ModelEntry, worker: Worker, payload: Any) -> ChatResult:
        parts: list[str] = []
        usage = Usage()
        timings = Timings()
        finish: str | None = None
        async for chunk in self._stream(entry, worker, payload, BATCH, time.perf_counter()):
            parts.append(chunk.content)
            if chunk.usage is not None:
                usage = usage.merged(chunk.usage)
            if chunk.timings is not None:
                timings = timings.merged(chunk.timings)
            finish = chunk.finish_reason or finish
        return ChatResult(
            model=f"llama_cpp/{entry.name}",
            message=Message(role="assistant", content="".join(parts)),
            finish_reason=finish,
            usage=usage,
            timings=timings,
            provider=self.prefix,
        )

    def _header(self, path: Path) -> dict[str, Any]:
        try:
            key = (str(path), path.stat().st_mtime_ns)
        except OSError:
            return {}
        if key not in self._header_cache:
            try:
                self._header_cache[key] = read_gguf_metadata(path)
            except (GGUFError, OSError) as exc:
                self._header_cache[key] = {"error": str(exc)}
        return self._header_cache[key]

    def _info(self, entry: ModelEntry, default: str | None) -> ModelInfo:
        path = entry.path if entry.path is not None else embedded_target(self.cache_dir)
        details: dict[str, Any] = {"source": entry.source, "path": str(path)}
        if entry.name == default:
            details["aliases"] = [DEFAULT_ALIAS]
        size: int | None = None
        context: int | None = None
        if path.is_file():
            size = path.stat().st_size
            header = self._header(path)
            arch = str(header.get("general.architecture", ""))
            if arch:
                details["architecture"] = arch
            trained = header.get(f"{arch}.context_length")
            if isinstance(trained, int):
                details["n_ctx_train"] = trained
                context = min(self.settings.n_ctx, trained) if self.settings.n_ctx else trained
            if "error" in header:
                details["error"] = header["error"]
        elif entry.source != "embedded":
            details["error"] = "file not found"
        else:
            details["assembled"] = False
        worker = self.pool.loaded().get(entry.name)
        capabilities = ["chat", "stream", "batch"]
        if worker is not None and worker.state is not None:
            details.update(worker.state.details())
            context = worker.state.n_ctx
            if worker.state.chat_format.passthrough:
                capabilities.append("tools")
        description = entry.settings.description if entry.settings else ""
        if entry.source == "embedded":
            description = "Gemma 3 270M (Q4_K_M), embedded default model"
        return ModelInfo(
            id=f"llama_cpp/{entry.name}",
            name=entry.name,
            provider=self.prefix,
            context_length=context,
            local=True,
            loaded=worker is not None,
            size_bytes=size,
            capabilities=capabilities,
            description=description,
            details=details,
        )


def _translate(exc: BaseException, name: str) -> BaseException:
    if isinstance(exc, LLMError | asyncio.CancelledError):
        return exc
    return ProviderError(
        f"llama_cpp/{name} failed: {type(exc).__name__}: {exc}",
        hint="see the log (--debug) for details; reload the model with `models unload`",
        model=f"llama_cpp/{name}",
    )
