"""Request options → llama.cpp sampler settings.

The standard options (``temperature``, ``top_p``, ``max_tokens``, ``stop``,
``seed``) come from :class:`~llf_host.ChatOptions`; engine extras come from
``options.extra`` and are described by :data:`EXTRA_OPTIONS_SCHEMA` (what
``Provider.options_schema()`` returns). Unknown extras are ignored; known ones
with a wrong type are an error naming the option.
"""

from __future__ import annotations

from typing import Any
from typing import Literal

import msgspec

from llf_host import ChatOptions
from llf_host import ProviderError

__all__ = ["EXTRA_OPTIONS_SCHEMA", "SamplingPlan", "plan_sampling"]

#: Defaults when a request leaves an option out (Ollama's: llama.cpp's, plus a mild
#: repeat penalty, which small models need to avoid loops).
DEFAULT_TEMPERATURE = 0.8
DEFAULT_TOP_P = 0.95


class Extras(msgspec.Struct, omit_defaults=True):
    """Engine-specific options accepted in ``options.extra``."""

    top_k: int = 40
    min_p: float = 0.05
    typical_p: float = 1.0
    repeat_penalty: float = 1.1
    frequency_penalty: float = 0.0
    presence_penalty: float = 0.0
    mirostat_mode: Literal[0, 1, 2] = 0
    mirostat_tau: float = 5.0
    mirostat_eta: float = 0.1
    grammar: str | None = None


EXTRA_OPTIONS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "top_k": {
            "type": "integer",
            "minimum": 0,
            "default": 40,
            "description": "Sample from the k most likely tokens (0 = all).",
        },
        "min_p": {
            "type": "number",
            "minimum": 0,
            "maximum": 1,
            "default": 0.05,
            "description": "Drop tokens less likely than min_p x the most likely one.",
        },
        "typical_p": {
            "type": "number",
            "minimum": 0,
            "maximum": 1,
            "default": 1.0,
            "description": "Locally typical sampling (1.0 = off).",
        },
        "repeat_penalty": {
            "type": "number",
            "minimum": 0,
            "default": 1.1,
            "description": "Penalise tokens seen in the last 64 (1.0 = off, 1.1 is mild).",
        },
        "frequency_penalty": {"type": "number", "default": 0.0},
        "presence_penalty": {"type": "number", "default": 0.0},
        "mirostat_mode": {
            "type": "integer",
            "enum": [0, 1, 2],
            "default": 0,
            "description": "Mirostat sampling version (0 = off).",
        },
        "mirostat_tau": {"type": "number", "default": 5.0},
        "mirostat_eta": {"type": "number", "default": 0.1},
        "grammar": {
            "type": "string",
            "description": "A GBNF grammar the output must follow (llama.cpp grammar syntax).",
        },
    },
    "additionalProperties": True,
}


class SamplingPlan(msgspec.Struct):
    """Everything the generation loop needs from a request's options."""

    generate_kwargs: dict[str, Any]
    max_tokens: int | None
    stop: list[str]
    seed: int | None
    grammar: str | None


def plan_sampling(options: ChatOptions, default_max_tokens: int = 0) -> SamplingPlan:
    """Validate ``options`` and map them to ``Llama.generate`` keyword arguments.

    ``max_tokens`` falls back to ``default_max_tokens``; 0 means "until the model
    stops or the context is full".
    """
    known = {k: v for k, v in options.extra.items() if k in Extras.__struct_fields__}
    try:
        extras = msgspec.convert(known, Extras, strict=False)
    except msgspec.ValidationError as exc:
        raise ProviderError(
            f"invalid llama_cpp option: {exc}",
            hint="see the provider's options schema (`models/list` details or docs/engines.md)",
            provider="llama_cpp",
        ) from None
    if options.max_tokens is not None and options.max_tokens < 0:
        raise ProviderError(
            f"max_tokens must be 0 or more, got {options.max_tokens}",
            hint="leave it out to generate until the model stops or the context is full",
            provider="llama_cpp",
        )
    temperature = DEFAULT_TEMPERATURE if options.temperature is None else options.temperature
    kwargs: dict[str, Any] = {
        "temp": max(0.0, float(temperature)),
        "top_p": DEFAULT_TOP_P if options.top_p is None else float(options.top_p),
        "top_k": extras.top_k,
        "min_p": extras.min_p,
        "typical_p": extras.typical_p,
        "repeat_penalty": extras.repeat_penalty,
        "frequency_penalty": extras.frequency_penalty,
        "presence_penalty": extras.presence_penalty,
        "mirostat_mode": extras.mirostat_mode,
        "mirostat_tau": extras.mirostat_tau,
        "mirostat_eta": extras.mirostat_eta,
    }
    return SamplingPlan(
        generate_kwargs=kwargs,
        max_tokens=(default_max_tokens if options.max_tokens is None else options.max_tokens)
        or None,
        stop=[s for s in options.stop or [] if s],
        seed=options.seed,
        grammar=extras.grammar,
    )
