"""Everything that touches mlx / mlx-lm; runs on the model's own worker thread.

``mlx`` and ``mlx_lm`` are imported on the first load, never when the plugin
loads. :func:`load` returns a :class:`MlxModel`; :func:`generate` serves one
request with ``mlx_lm.stream_generate``, checking the cancel flag between tokens
and mapping mlx-lm's own figures (prompt and generation tokens per second, peak
memory) into the host's :class:`~llf_host.Timings`.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from typing import final

import msgspec

from llf_host import ChatChunk
from llf_host import ProviderError
from llf_host import ProviderUnavailableError
from llf_host import StopMatcher
from llf_host import Timings
from llf_host import Usage

from .settings import MlxModelSettings

__all__ = ["GenerationPayload", "MlxModel", "generate", "import_mlx_lm", "load", "release"]

log = logging.getLogger("llf.plugin.mlx")

_INSTALL_HINT = "install with pip install 'llf-host[mlx]' (on Linux it brings mlx[cpu])"


def import_mlx_lm() -> Any:
    """Import mlx_lm, or explain how to install it."""
    try:
        import mlx_lm
    except ImportError as exc:
        raise ProviderUnavailableError(
            f"mlx-lm is not installed ({exc})", hint=_INSTALL_HINT, provider="mlx"
        ) from None
    return mlx_lm


@final
class MlxModel:
    """A loaded model, its tokenizer and how prompts are rendered."""

    def __init__(self, name: str, model: Any, tokenizer: Any, spec: MlxModelSettings) -> None:
        self.name = name
        self.model = model
        self.tokenizer = tokenizer
        self.spec = spec
        self.load_ms = 0.0
        self.template_source = (
            "config"
            if spec.chat_template
            else ("tokenizer" if getattr(tokenizer, "chat_template", None) else "transcript")
        )

    def render(self, messages: list[dict[str, Any]]) -> str:
        """The prompt text: the configured or the tokenizer's chat template."""
        if self.template_source == "transcript":
            lines = [f"{m['role']}: {m.get('content') or ''}" for m in messages]
            return "\n".join([*lines, "assistant:"])
        kwargs: dict[str, Any] = {"add_generation_prompt": True, "tokenize": False}
        if self.spec.chat_template:
            kwargs["chat_template"] = self.spec.chat_template
        try:
            return str(self.tokenizer.apply_chat_template(messages, **kwargs))
        except Exception as exc:  # noqa: BLE001 - Jinja templates raise anything
            raise ProviderError(
                f"the chat template of mlx/{self.name} failed: {exc}",
                hint="set chat_template for this model in [plugins.mlx.models]",
                model=f"mlx/{self.name}",
            ) from None


def load(name: str, spec: MlxModelSettings) -> MlxModel:
    """Load the model folder (on the worker thread that will use it)."""
    mlx_lm = import_mlx_lm()
    start = time.perf_counter()
    try:
        model, tokenizer = mlx_lm.load(
            str(Path(spec.path).expanduser()),
            adapter_path=str(Path(spec.adapter_path).expanduser()) if spec.adapter_path else None,
        )
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        raise ProviderError(
            f"mlx-lm could not load mlx/{name} from {spec.path}: {type(exc).__name__}: {exc}",
            hint="check the folder was written by mlx_lm.convert for a supported architecture",
            model=f"mlx/{name}",
            path=spec.path,
        ) from None
    loaded = MlxModel(name, model, tokenizer, spec)
    loaded.load_ms = (time.perf_counter() - start) * 1000
    if loaded.template_source == "transcript":
        log.warning(
            "mlx/%s has no chat template; using a plain transcript. Set chat_template in "
            "[plugins.mlx.models.%s] for better answers",
            name,
            name,
        )
    log.info("loaded mlx/%s in %.0f ms", name, loaded.load_ms)
    return loaded


def release(model: MlxModel) -> None:
    """Drop the weights and return mlx's cached buffers."""
    import mlx.core as mx

    model.model = None
    mx.clear_cache()
    log.info("unloaded mlx/%s", model.name)


class GenerationPayload(msgspec.Struct):
    """One request, as the worker needs it."""

    messages: list[dict[str, Any]]
    temperature: float
    top_p: float
    max_tokens: int
    stop: list[str]
    seed: int | None
    top_k: int = 0
    min_p: float = 0.0
    repetition_penalty: float | None = None
    max_kv_size: int | None = None
    submitted_at: float = 0.0
    load_ms: float = 0.0


def generate(
    model: MlxModel,
    payload: GenerationPayload,
    emit: Callable[[object], None],
    cancel: threading.Event,
) -> None:
    """Stream one answer through ``emit``; exceptions are emitted too."""
    try:
        _generate(model, payload, emit, cancel)
    except BaseException as exc:  # noqa: BLE001 - handed to the requester
        emit(exc)


def _generate(
    model: MlxModel,
    payload: GenerationPayload,
    emit: Callable[[object], None],
    cancel: threading.Event,
) -> None:
    if cancel.is_set():
        return
    import mlx.core as mx
    from mlx_lm import stream_generate
    from mlx_lm.sample_utils import make_logits_processors
    from mlx_lm.sample_utils import make_sampler

    prompt = model.render(payload.messages)
    mx.random.seed(payload.seed if payload.seed is not None else random.randrange(2**32))
    sampler = make_sampler(
        temp=payload.temperature, top_p=payload.top_p, min_p=payload.min_p, top_k=payload.top_k
    )
    processors = (
        make_logits_processors(repetition_penalty=payload.repetition_penalty)
        if payload.repetition_penalty
        else None
    )
    kwargs: dict[str, Any] = {"sampler": sampler, "logits_processors": processors}
    if payload.max_kv_size:
        kwargs["max_kv_size"] = payload.max_kv_size
    matcher = StopMatcher(payload.stop)
    hit_stop = False
    finish = "length"
    first_at: float | None = None
    last: Any = None
    responses = stream_generate(
        model.model,
        model.tokenizer,
        prompt,
        max_tokens=payload.max_tokens if payload.max_tokens > 0 else -1,
        **kwargs,
    )
    try:
        for response in responses:
            if first_at is None:
                first_at = time.perf_counter()
            if cancel.is_set():
                return
            last = response
            if response.text:
                out, stopped = matcher.feed(response.text)
                if out:
                    emit(ChatChunk(content=out))
                if stopped:
                    hit_stop = True
                    finish = "stop"
                    break
            if response.finish_reason:
                finish = response.finish_reason
    finally:
        responses.close()
    tail = "" if hit_stop else matcher.flush()
    if tail:
        emit(ChatChunk(content=tail))
    end = time.perf_counter()
    emit(_final_chunk(payload, last, finish, first_at, end))


def _final_chunk(
    payload: GenerationPayload, last: Any, finish: str, first_at: float | None, end: float
) -> ChatChunk:
    timings = Timings(total_ms=(end - payload.submitted_at) * 1000, load_ms=payload.load_ms)
    usage = Usage()
    if first_at is not None:
        timings.ttft_ms = (first_at - payload.submitted_at) * 1000
    if last is not None:
        usage = Usage(
            prompt_tokens=int(last.prompt_tokens),
            completion_tokens=int(last.generation_tokens),
            total_tokens=int(last.prompt_tokens) + int(last.generation_tokens),
        )
        timings.prompt_tokens_per_second = float(last.prompt_tps) or None
        timings.tokens_per_second = float(last.generation_tps) or None
        if last.prompt_tps:
            timings.prompt_ms = last.prompt_tokens / last.prompt_tps * 1000
        # mlx-lm reports peak memory in GB (10^9 bytes).
        timings.peak_memory_mb = float(last.peak_memory) * 1000
    return ChatChunk(finish_reason=finish, usage=usage, timings=timings)
