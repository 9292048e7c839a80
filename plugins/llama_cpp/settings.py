"""The ``[plugins.llama_cpp]`` config section, validated into typed settings.

The JSON Schema in ``plugin.toml`` checks the section when the plugin loads
(with an error naming the field); :func:`parse_settings` then turns it into
:class:`LlamaCppSettings`. Thread defaults are conservative on purpose:
llama.cpp with OpenMP slows down dramatically when it asks for more threads than
there are free cores (64 tokens took 43 s instead of under 1 s on a busy 2-core
machine), so the default leaves one core free.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import msgspec

from llf_host import ConfigError

__all__ = [
    "DEFAULT_MAX_TOKENS",
    "DEFAULT_N_CTX",
    "LlamaCppSettings",
    "ModelSettings",
    "available_cores",
    "default_threads",
    "parse_settings",
    "physical_cores",
]

#: Default context size (llama-cpp-python's own default is 512).
DEFAULT_N_CTX = 4096
#: Answer length when a request gives no max_tokens (0: until the context is full).
DEFAULT_MAX_TOKENS = 512
#: Upper bound of the automatic thread count (more rarely helps on CPU).
MAX_DEFAULT_THREADS = 8


class ModelSettings(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """One configured model: ``[plugins.llama_cpp.models.<name>]``."""

    path: str
    chat_format: str | None = None
    n_ctx: int | None = None
    n_gpu_layers: int | None = None
    n_threads: int | None = None
    lora_path: str | None = None
    lora_scale: float = 1.0
    description: str = ""


class LlamaCppSettings(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """Every setting of the plugin; ``None`` means "decide automatically"."""

    models: dict[str, ModelSettings] = msgspec.field(default_factory=dict)
    model_dirs: list[str] = msgspec.field(default_factory=list)
    embedded_model: bool = True
    default_model: str | None = None
    cache_dir: str | None = None
    n_ctx: int = DEFAULT_N_CTX
    n_batch: int = 512
    n_threads: int | None = None
    n_threads_batch: int | None = None
    n_gpu_layers: int | None = None
    flash_attn: bool = False
    use_mmap: bool = True
    use_mlock: bool = False
    seed: int | None = None
    max_tokens: int = DEFAULT_MAX_TOKENS
    chat_format: str = "auto"
    memory_budget_mb: float | None = None
    max_queue: int = 64
    verbose: bool = False

    def threads(self, model: ModelSettings | None = None) -> int:
        """Threads for token generation."""
        if model is not None and model.n_threads:
            return model.n_threads
        return self.n_threads or default_threads()

    def threads_batch(self, model: ModelSettings | None = None) -> int:
        """Threads for prompt processing (defaults to the generation threads)."""
        return self.n_threads_batch or self.threads(model)


def parse_settings(section: dict[str, Any]) -> LlamaCppSettings:
    """Validate the config section (model shorthand ``name = "path"`` allowed)."""
    data = dict(section)
    models = data.get("models")
    if isinstance(models, dict):
        data["models"] = {
            name: {"path": spec} if isinstance(spec, str) else spec for name, spec in models.items()
        }
    try:
        return msgspec.convert(data, LlamaCppSettings)
    except msgspec.ValidationError as exc:
        raise ConfigError(
            f"config [plugins.llama_cpp] is invalid: {exc}",
            hint="see docs/engines.md for the llama_cpp settings",
            plugin="llama_cpp",
        ) from None


def available_cores() -> int:
    """Cores this process may run on (respects CPU affinity and container limits)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def physical_cores() -> int:
    """Physical cores (hyper-threads are not counted); logical count when unknown."""
    cpuinfo = Path("/proc/cpuinfo")
    try:
        text = cpuinfo.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return max(1, os.cpu_count() or 1)
    cores: set[tuple[str, str]] = set()
    physical = core = ""
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "physical id":
            physical = value.strip()
        elif key == "core id":
            core = value.strip()
            cores.add((physical, core))
    return len(cores) or max(1, os.cpu_count() or 1)


def default_threads() -> int:
    """One less than the usable physical cores, at least 1, at most 8."""
    usable = min(physical_cores(), available_cores())
    return max(1, min(usable - 1, MAX_DEFAULT_THREADS))
