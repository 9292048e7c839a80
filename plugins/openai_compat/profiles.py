"""What differs between engines: ports, paths, wire quirks and the words we use.

One :class:`EngineProfile` per engine *kind* (what fingerprinting identifies).
A provider prefix maps to a default kind (``llamacpp`` serves both llama.cpp's
``llama-server`` and llama-cpp-python's server; the endpoint's fingerprint picks
the profile). Every user-facing sentence about an engine (how to start it, how
to get a model) lives here, so messages stay consistent.
"""

from __future__ import annotations

from typing import Literal

import msgspec

__all__ = [
    "BUILTIN_PREFIXES",
    "DEFAULT_KIND",
    "KINDS",
    "PROFILES",
    "EngineKind",
    "EngineProfile",
    "profile_for",
]

EngineKind = Literal[
    "ollama",
    "lm_studio",
    "vllm",
    "llama_server",
    "llama_cpp_python",
    "mlx_server",
    "openai",
    "generic",
]
Wire = Literal["openai", "ollama"]


class EngineProfile(msgspec.Struct, frozen=True):
    """Facts about one engine kind."""

    kind: EngineKind
    #: Name used in messages ("Ollama", "llama-server").
    label: str
    #: Native wire format for chat: OpenAI SSE or Ollama NDJSON.
    wire: Wire
    #: Loopback ports where the engine usually listens (auto-detection).
    ports: tuple[int, ...]
    #: Command that starts the engine, for "not running" messages.
    start_hint: str
    #: Path (from the server root) answering health, or None to use the model list.
    health_path: str | None
    #: Whether ``stream_options.include_usage`` is accepted and honoured.
    stream_usage: bool
    #: The engine serves whatever model it has loaded, whatever name is asked.
    any_model: bool
    #: A local engine (no key needed unless the server was started with one).
    local: bool = True
    #: Default read timeout: long for local engines (model loads, long prefills).
    read_timeout_s: float = 600.0
    #: How to get a model that is missing ("" when there is no such command).
    get_model_hint: str = ""
    #: Whether polling the server while it streams disturbs the stream.
    poll_disturbs_streams: bool = False


PROFILES: dict[EngineKind, EngineProfile] = {
    "ollama": EngineProfile(
        kind="ollama",
        label="Ollama",
        wire="ollama",
        ports=(11434,),
        start_hint="start it with `ollama serve`",
        health_path="/",
        stream_usage=True,
        any_model=False,
        get_model_hint="run `ollama pull {model}` (or `llf-host models pull ollama/{model}`)",
    ),
    "lm_studio": EngineProfile(
        kind="lm_studio",
        label="LM Studio",
        wire="openai",
        ports=(1234,),
        start_hint="start it with `lms server start` (or the Developer tab in LM Studio)",
        health_path=None,
        stream_usage=True,
        any_model=False,
        get_model_hint="download it in LM Studio or run `lms get {model}`",
    ),
    "vllm": EngineProfile(
        kind="vllm",
        label="vLLM",
        wire="openai",
        ports=(8000,),
        start_hint="start it with `vllm serve MODEL` (its port opens only once the model "
        "has loaded)",
        health_path="/health",
        stream_usage=True,
        any_model=False,
        get_model_hint="restart vLLM with `vllm serve {model}` or `--served-model-name {model}`",
    ),
    "llama_server": EngineProfile(
        kind="llama_server",
        label="llama-server",
        wire="openai",
        ports=(8080, 9931),
        start_hint="start it with `llama-server -m MODEL.gguf --port 8080`",
        health_path="/health",
        stream_usage=False,  # usage and timings come on the finish chunk anyway
        any_model=True,
    ),
    "llama_cpp_python": EngineProfile(
        kind="llama_cpp_python",
        label="llama-cpp-python server",
        wire="openai",
        ports=(8000,),
        start_hint="start it with `python -m llama_cpp.server --model MODEL.gguf`",
        health_path=None,
        stream_usage=False,
        any_model=True,
        poll_disturbs_streams=True,
    ),
    "mlx_server": EngineProfile(
        kind="mlx_server",
        label="mlx_lm.server",
        wire="openai",
        ports=(8080,),
        start_hint="start it with `mlx_lm.server --model MODEL`",
        health_path="/health",
        stream_usage=True,
        any_model=True,  # loads any local path or Hugging Face repo on demand
    ),
    "openai": EngineProfile(
        kind="openai",
        label="OpenAI",
        wire="openai",
        ports=(),
        start_hint="check your network connection and https://status.openai.com",
        health_path=None,
        stream_usage=True,
        any_model=False,
        local=False,
        read_timeout_s=300.0,
    ),
    "generic": EngineProfile(
        kind="generic",
        label="OpenAI-compatible server",
        wire="openai",
        ports=(),
        start_hint="check that the server is running and that api_base is right",
        health_path=None,
        stream_usage=True,
        any_model=False,
        read_timeout_s=600.0,
    ),
}

KINDS: tuple[EngineKind, ...] = tuple(PROFILES)

#: Built-in provider prefix -> the engine kind it expects by default.
DEFAULT_KIND: dict[str, EngineKind] = {
    "ollama": "ollama",
    "lm_studio": "lm_studio",
    "vllm": "vllm",
    "llamacpp": "llama_server",
    "mlx_server": "mlx_server",
    "openai": "openai",
}

#: Built-in prefixes, in the order providers are registered.
BUILTIN_PREFIXES: tuple[str, ...] = tuple(DEFAULT_KIND)

#: Which built-in prefix serves an auto-detected engine kind.
PREFIX_FOR_KIND: dict[EngineKind, str] = {
    "ollama": "ollama",
    "lm_studio": "lm_studio",
    "vllm": "vllm",
    "llama_server": "llamacpp",
    "llama_cpp_python": "llamacpp",
    "mlx_server": "mlx_server",
}


def profile_for(kind: str) -> EngineProfile:
    """The profile of ``kind`` (unknown kinds get the generic one)."""
    for profile in PROFILES.values():
        if profile.kind == kind:
            return profile
    return PROFILES["generic"]
