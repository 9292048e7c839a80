"""Everything that touches llama-cpp-python; runs inside a model's worker thread.

``llama_cpp`` is imported here, on the first model load, never when the plugin
loads. :func:`load_model` builds a :class:`LoadedModel` (the ``Llama`` object,
its chat format and figures), :func:`run_job` serves one request: it renders the
prompt, drives ``Llama.generate`` token by token (checking the job's cancel flag
between tokens), cuts at stop sequences, and reports usage and timings measured
here, since llama-cpp-python's streams carry none.
"""

from __future__ import annotations

import codecs
import contextlib
import ctypes
import io
import logging
import random
import threading
import time
from pathlib import Path
from typing import Any
from typing import final

import msgspec

from llf_host import ChatChunk
from llf_host import ContextLengthError
from llf_host import ProviderError
from llf_host import ProviderUnavailableError
from llf_host import StopMatcher
from llf_host import Timings
from llf_host import ToolCallDelta
from llf_host import Usage

from .chat_format import PASSTHROUGH_PREFIX
from .chat_format import ChatFormat
from .chat_format import RenderedPrompt
from .chat_format import fallback_for
from .chat_format import render_fallback
from .gguf_meta import GGUFError
from .gguf_meta import read_gguf_metadata
from .sampling import SamplingPlan
from .worker import Job

__all__ = [
    "ChatPayload",
    "LoadSpec",
    "LoadedModel",
    "import_llama_cpp",
    "load_model",
    "release_model",
    "run_job",
]

log = logging.getLogger("llf.plugin.llama_cpp")
native_log = logging.getLogger("llf.plugin.llama_cpp.native")

_INSTALL_HINT = "install with pip install 'llf-host[local]'"
#: Model loads are serialised: they briefly swap sys.stderr (see load_model).
_LOAD_LOCK = threading.Lock()
_native_callback: Any = None
#: ggml log levels (DEBUG=1, INFO=2, WARN=3, ERROR=4) to logging levels. llama.cpp's
#: warnings are notes about the model file, not something a user can act on.
_NATIVE_LEVELS = {4: logging.WARNING, 3: logging.INFO}


def import_llama_cpp() -> Any:
    """Import llama_cpp (once) and route llama.cpp's own log lines into logging."""
    global _native_callback
    try:
        import llama_cpp
    except ImportError as exc:
        raise ProviderUnavailableError(
            f"llama-cpp-python is not installed ({exc})",
            hint=_INSTALL_HINT,
            provider="llama_cpp",
        ) from None
    if _native_callback is None:

        @llama_cpp.llama_log_callback  # type: ignore[untyped-decorator]
        def route(level: int, text: bytes, _user: ctypes.c_void_p) -> None:
            try:
                message = text.decode("utf-8", errors="replace").rstrip()
                if message:
                    native_log.log(_NATIVE_LEVELS.get(level, logging.DEBUG), "%s", message)
            except Exception:  # noqa: BLE001 - a callback from C must never raise
                pass

        _native_callback = route
        llama_cpp.llama_log_set(route, ctypes.c_void_p(0))
    return llama_cpp


class LoadSpec(msgspec.Struct, frozen=True):
    """How to load one model (settings merged with the model's overrides)."""

    name: str
    path: str
    n_ctx: int
    n_batch: int
    n_threads: int
    n_threads_batch: int
    n_gpu_layers: int | None
    flash_attn: bool
    use_mmap: bool
    use_mlock: bool
    chat_format: str
    seed: int | None
    verbose: bool
    lora_path: str | None = None
    lora_scale: float = 1.0


@final
class LoadedModel:
    """A loaded ``Llama`` and what the provider needs to know about it."""

    def __init__(self, llm: Any, spec: LoadSpec, chat_format: ChatFormat, load_ms: float) -> None:
        llama_cpp = import_llama_cpp()
        self.llm = llm
        self.spec = spec
        self.chat_format = chat_format
        self.load_ms = load_ms
        self.vocab = llama_cpp.llama_model_get_vocab(llm.model)
        self._is_eog = llama_cpp.llama_vocab_is_eog
        # llama.cpp may round the context up (to 256), but llama-cpp-python sizes its
        # token buffer with the requested value: the smaller one is the real limit.
        self.n_ctx: int = min(int(llm.n_ctx()), len(llm.input_ids))
        self.n_ctx_train: int = int(llama_cpp.llama_model_n_ctx_train(llm.model))
        self.size_bytes: int = int(llama_cpp.llama_model_size(llm.model))
        self.n_params: int = int(llama_cpp.llama_model_n_params(llm.model))
        self.metadata: dict[str, str] = dict(llm.metadata)
        self.architecture = self.metadata.get("general.architecture", "")
        self.kv_bytes = _kv_cache_bytes(self.metadata, self.architecture, self.n_ctx)
        #: Memory the model is expected to use (weights + KV cache), for the budget.
        self.estimate_bytes = self.size_bytes + self.kv_bytes
        self.stop_token_ids: set[int] = set()
        #: Counters (read by tests and ``models list`` details).
        self.served_jobs = 0
        self.cancelled_jobs = 0
        self.generated_tokens = 0

    def is_eog(self, token: int) -> bool:
        """True for end-of-generation tokens (EOS, ``<end_of_turn>``, ``<|eot_id|>``...)."""
        return bool(self._is_eog(self.vocab, token)) or token in self.stop_token_ids

    def single_special_token(self, text: str) -> int | None:
        """The id of ``text`` when it is one special token of the vocabulary."""
        raw = text.encode("utf-8")
        tokens = self.llm.tokenize(raw, add_bos=False, special=True)
        if len(tokens) != 1:
            return None
        plain = self.llm.tokenize(raw, add_bos=False, special=False)
        return int(tokens[0]) if len(plain) > 1 else None

    def details(self) -> dict[str, Any]:
        """Facts shown in ``models list`` for a loaded model."""
        return {
            "architecture": self.architecture,
            "chat_format": self.chat_format.name,
            "chat_format_source": self.chat_format.source,
            "n_ctx": self.n_ctx,
            "n_ctx_train": self.n_ctx_train,
            "n_params": self.n_params,
            "n_threads": self.spec.n_threads,
            "n_gpu_layers": self.spec.n_gpu_layers,
            "estimate_mb": round(self.estimate_bytes / 2**20, 1),
            "load_ms": round(self.load_ms, 1),
            "served": self.served_jobs,
            "cancelled": self.cancelled_jobs,
        }


def _kv_cache_bytes(metadata: dict[str, str], arch: str, n_ctx: int) -> int:
    """Size of an f16 KV cache of ``n_ctx`` cells, from the GGUF metadata."""

    def number(key: str, default: int) -> int:
        try:
            return int(float(metadata.get(f"{arch}.{key}", default)))
        except ValueError:
            return default

    layers = number("block_count", 0)
    heads = number("attention.head_count", 1) or 1
    heads_kv = number("attention.head_count_kv", heads) or heads
    embd = number("embedding_length", 0)
    key_len = number("attention.key_length", embd // heads if heads else 0)
    value_len = number("attention.value_length", key_len)
    return n_ctx * layers * heads_kv * (key_len + value_len) * 2


def _effective_n_ctx(requested: int, path: Path) -> int:
    """``requested`` capped by the model's trained context (0 means the trained one)."""
    try:
        meta = read_gguf_metadata(path)
    except (GGUFError, OSError) as exc:
        raise ProviderError(
            f"cannot read the GGUF header of {path}: {exc}",
            hint="check that the file is a complete .gguf model (re-download it if in doubt)",
            path=str(path),
        ) from None
    arch = str(meta.get("general.architecture", ""))
    trained = meta.get(f"{arch}.context_length")
    if not isinstance(trained, int) or trained <= 0:
        return requested or 4096
    if requested <= 0:
        return trained
    return min(requested, trained)


def _choose_format(model: LoadedModel, configured: str) -> ChatFormat:
    if configured.startswith(PASSTHROUGH_PREFIX):
        return ChatFormat(configured, "config", None)
    if configured not in ("", "auto", "template"):
        return ChatFormat(configured, "config", render_fallback(configured))
    template = model.metadata.get("tokenizer.chat_template")
    if template:
        return ChatFormat("template", "gguf", _template_renderer(model, template))
    if configured == "template":
        log.warning("%s has no chat template in its GGUF; using a fallback", model.spec.name)
    name, why = fallback_for(
        model.architecture, lambda t: model.single_special_token(t) is not None
    )
    return ChatFormat(name, why, render_fallback(name))


def _template_renderer(model: LoadedModel, template: str) -> Any:
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    llm = model.llm

    def token_text(token: int) -> str:
        if token < 0:
            return ""
        return bytes(llm.detokenize([token], special=True)).decode("utf-8", errors="replace")

    formatter = Jinja2ChatFormatter(
        template=template,
        eos_token=token_text(llm.token_eos()),
        bos_token=token_text(llm.token_bos()),
        add_generation_prompt=True,
    )

    def render(messages: Any) -> RenderedPrompt:
        try:
            result = formatter(messages=list(messages))
        except Exception as exc:  # noqa: BLE001 - Jinja templates raise anything
            raise ProviderError(
                f"the chat template of llama_cpp/{model.spec.name} failed: {exc}",
                hint="set chat_format for this model in [plugins.llama_cpp] (e.g. chatml) "
                "to bypass the GGUF's template",
                model=f"llama_cpp/{model.spec.name}",
            ) from None
        stop = result.stop if isinstance(result.stop, list) else [result.stop or ""]
        return RenderedPrompt(result.prompt, [s for s in stop if s], add_bos=False)

    return render


def load_model(spec: LoadSpec) -> LoadedModel:
    """Create the ``Llama`` for ``spec`` (in the worker thread that will own it)."""
    llama_cpp = import_llama_cpp()
    path = Path(spec.path)
    n_ctx = _effective_n_ctx(spec.n_ctx, path)
    n_gpu_layers = spec.n_gpu_layers
    if n_gpu_layers is None:
        n_gpu_layers = -1 if llama_cpp.llama_supports_gpu_offload() else 0
    spec = msgspec.structs.replace(spec, n_gpu_layers=n_gpu_layers)
    kwargs: dict[str, Any] = {
        "model_path": str(path),
        "n_ctx": n_ctx,
        "n_batch": min(spec.n_batch, n_ctx),
        "n_threads": spec.n_threads,
        "n_threads_batch": spec.n_threads_batch,
        "n_gpu_layers": n_gpu_layers,
        "flash_attn": spec.flash_attn,
        "use_mmap": spec.use_mmap,
        "use_mlock": spec.use_mlock,
        "lora_path": spec.lora_path,
        "lora_scale": spec.lora_scale,
        # verbose=True keeps llama-cpp-python from redirecting the process's stdout
        # and stderr file descriptors during the load (that would swallow protocol
        # messages written by other threads); its prints are captured below and
        # llama.cpp's own log goes to logging through import_llama_cpp's callback.
        "verbose": True,
    }
    if spec.chat_format.startswith(PASSTHROUGH_PREFIX):
        kwargs["chat_format"] = spec.chat_format[len(PASSTHROUGH_PREFIX) :]
    if spec.seed is not None:
        kwargs["seed"] = spec.seed
    start = time.perf_counter()
    captured = io.StringIO()
    with _LOAD_LOCK:
        try:
            with contextlib.redirect_stderr(captured):
                llm = llama_cpp.Llama(**kwargs)
        except (ValueError, RuntimeError, OSError) as exc:
            raise ProviderError(
                f"llama.cpp could not load llama_cpp/{spec.name} from {path}: {exc}",
                hint="check that the file is a complete GGUF model supported by this "
                f"llama-cpp-python ({getattr(llama_cpp, '__version__', '?')}); lower n_ctx "
                "or n_gpu_layers if memory ran out",
                model=f"llama_cpp/{spec.name}",
                path=str(path),
            ) from None
    llm.verbose = spec.verbose
    if spec.verbose:
        log.info("%s", captured.getvalue())
    load_ms = (time.perf_counter() - start) * 1000
    model = LoadedModel(llm, spec, ChatFormat("pending", "", None), load_ms)
    model.chat_format = _choose_format(model, spec.chat_format)
    if not model.chat_format.passthrough:
        sample = model.chat_format.render([{"role": "user", "content": "x"}])
        for stop in sample.stop:
            token = model.single_special_token(stop)
            if token is not None:
                model.stop_token_ids.add(token)
    log.info(
        "loaded llama_cpp/%s in %.0f ms (n_ctx %d, %d threads, chat format %s from %s)",
        spec.name,
        load_ms,
        model.n_ctx,
        spec.n_threads,
        model.chat_format.name,
        model.chat_format.source,
    )
    return model


def release_model(model: LoadedModel) -> None:
    """Free the model's memory (in its worker thread)."""
    model.llm.close()
    log.info("unloaded llama_cpp/%s", model.spec.name)


# -- serving one request ------------------------------------------------------------
class ChatPayload(msgspec.Struct):
    """What the worker needs to run one chat request."""

    messages: list[dict[str, Any]]
    plan: SamplingPlan
    tools: list[dict[str, Any]] = msgspec.field(default_factory=list)
    load_ms: float = 0.0


def run_job(model: LoadedModel, job: Job) -> None:
    """Serve one job (its payload is a :class:`ChatPayload`)."""
    payload = job.payload
    if isinstance(payload, ChatPayload):
        if model.chat_format.passthrough:
            _run_passthrough(model, job, payload)
        else:
            _run_generation(model, job, payload)
        return
    raise TypeError(f"unknown job payload {type(payload).__name__}")


def _grammar(plan: SamplingPlan) -> Any:
    if not plan.grammar:
        return None
    from llama_cpp.llama_grammar import LlamaGrammar

    try:
        return LlamaGrammar.from_string(plan.grammar, verbose=False)
    except (ValueError, RuntimeError) as exc:
        raise ProviderError(
            f"the grammar option is not valid GBNF: {exc}",
            hint="check the grammar syntax (llama.cpp grammars/README.md)",
        ) from None


def _seed(model: LoadedModel, plan: SamplingPlan) -> int:
    if plan.seed is not None:
        return plan.seed & 0xFFFFFFFF
    if model.spec.seed is not None:
        return model.spec.seed & 0xFFFFFFFF
    return random.randrange(2**32)


def _run_generation(model: LoadedModel, job: Job, payload: ChatPayload) -> None:
    llm = model.llm
    started = time.perf_counter()
    rendered = model.chat_format.render(payload.messages)
    prompt = llm.tokenize(rendered.text.encode("utf-8"), add_bos=rendered.add_bos, special=True)
    n_prompt = len(prompt)
    if n_prompt >= model.n_ctx:
        raise ContextLengthError(
            f"the prompt has {n_prompt} tokens but llama_cpp/{model.spec.name} was loaded "
            f"with a context of {model.n_ctx}",
            hint=f"shorten the conversation, or raise n_ctx (the model was trained on "
            f"{model.n_ctx_train})",
            model=f"llama_cpp/{model.spec.name}",
            prompt_tokens=n_prompt,
            n_ctx=model.n_ctx,
        )
    plan = payload.plan
    room = model.n_ctx - n_prompt
    max_tokens = min(plan.max_tokens, room) if plan.max_tokens else room
    llm.set_seed(_seed(model, plan))
    matcher = StopMatcher([*rendered.stop, *plan.stop])
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    emit = job.emit
    completion = 0
    first_at: float | None = None
    finish = "length"
    gen_start = time.perf_counter()
    tokens = llm.generate(prompt, grammar=_grammar(plan), **plan.generate_kwargs)
    try:
        for token in tokens:
            if first_at is None:
                first_at = time.perf_counter()
            if job.cancelled:
                finish = "cancelled"
                break
            if model.is_eog(token):
                finish = "stop"
                break
            completion += 1
            model.generated_tokens += 1
            text = decoder.decode(llm.detokenize([token]))
            if text:
                out, stopped = matcher.feed(text)
                if out:
                    emit(ChatChunk(content=out))
                if stopped:
                    finish = "stop"
                    break
            if completion >= max_tokens:
                break
    finally:
        tokens.close()
    if finish == "cancelled":
        model.cancelled_jobs += 1
        return
    model.served_jobs += 1
    if finish != "stop":
        tail = matcher.feed(decoder.decode(b"", final=True))[0] + matcher.flush()
        if tail:
            emit(ChatChunk(content=tail))
    end = time.perf_counter()
    emit(
        _final_chunk(job, payload, finish, n_prompt, completion, started, gen_start, first_at, end)
    )


def _final_chunk(
    job: Job,
    payload: ChatPayload,
    finish: str,
    n_prompt: int | None,
    completion: int,
    started: float,
    gen_start: float,
    first_at: float | None,
    end: float,
) -> ChatChunk:
    timings = Timings(
        total_ms=(end - job.submitted_at) * 1000,
        load_ms=payload.load_ms,
    )
    if first_at is not None:
        timings.ttft_ms = (first_at - job.submitted_at) * 1000
        timings.prompt_ms = (first_at - gen_start) * 1000
        if n_prompt and first_at > gen_start:
            timings.prompt_tokens_per_second = n_prompt / (first_at - gen_start)
        if completion > 1 and end > first_at:
            timings.tokens_per_second = (completion - 1) / (end - first_at)
    usage = Usage(
        prompt_tokens=n_prompt,
        completion_tokens=completion,
        total_tokens=(n_prompt + completion) if n_prompt is not None else None,
    )
    log.debug(
        "request done: %s, %s tokens, queue %.1f ms",
        finish,
        completion,
        (started - job.submitted_at) * 1000,
    )
    return ChatChunk(finish_reason=finish, usage=usage, timings=timings)


def _run_passthrough(model: LoadedModel, job: Job, payload: ChatPayload) -> None:
    """Hand the request to llama-cpp-python's own chat handler (tool calling formats)."""
    llm = model.llm
    plan = payload.plan
    kw = plan.generate_kwargs
    started = time.perf_counter()
    request: dict[str, Any] = {
        "messages": payload.messages,
        "temperature": kw["temp"],
        "top_p": kw["top_p"],
        "top_k": kw["top_k"],
        "min_p": kw["min_p"],
        "typical_p": kw["typical_p"],
        "repeat_penalty": kw["repeat_penalty"],
        "frequency_penalty": kw["frequency_penalty"],
        "presence_penalty": kw["presence_penalty"],
        "stop": plan.stop,
        "seed": _seed(model, plan),
        "max_tokens": plan.max_tokens,
        "grammar": _grammar(plan),
    }
    if payload.tools:
        request["tools"] = payload.tools
    first_at: float | None = None
    completion = 0
    finish = "stop"
    if payload.tools:
        # Tool calls arrive whole; the non-streaming call also gives exact usage.
        response = llm.create_chat_completion(stream=False, **request)
        first_at = time.perf_counter()
        choice = response["choices"][0]
        message = choice["message"]
        deltas = [
            ToolCallDelta(
                index=i,
                id=call.get("id"),
                name=call["function"]["name"],
                arguments=call["function"].get("arguments") or "",
            )
            for i, call in enumerate(message.get("tool_calls") or [])
        ]
        if message.get("content") or deltas:
            job.emit(ChatChunk(content=message.get("content") or "", tool_calls=deltas))
        usage = response.get("usage") or {}
        completion = int(usage.get("completion_tokens", 0))
        finish = choice.get("finish_reason") or "stop"
        end = time.perf_counter()
        chunk = _final_chunk(
            job,
            payload,
            finish,
            usage.get("prompt_tokens"),
            completion,
            started,
            started,
            first_at,
            end,
        )
        job.emit(chunk)
        return
    stream = llm.create_chat_completion(stream=True, **request)
    try:
        for item in stream:
            if job.cancelled:
                return
            choice = item["choices"][0]
            text = choice.get("delta", {}).get("content")
            if text:
                if first_at is None:
                    first_at = time.perf_counter()
                completion += 1
                job.emit(ChatChunk(content=text))
            if choice.get("finish_reason"):
                finish = choice["finish_reason"]
    finally:
        close = getattr(stream, "close", None)
        if close is not None:
            close()
    end = time.perf_counter()
    job.emit(_final_chunk(job, payload, finish, None, completion, started, started, first_at, end))
