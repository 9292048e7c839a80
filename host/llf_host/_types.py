"""Shared data types: messages, chat requests and chunks, models, health, audit.

All are :class:`msgspec.Struct` classes: typed, cheap to build, validated when
decoded from JSON (``msgspec.convert(data, Message)``) and encoded to the exact
JSON shapes documented in docs/protocol.md. Messages use the OpenAI chat shape
(``role``, ``content``, ``tool_calls``, ``tool_call_id``) so clients can pass what
they already have.
"""

from __future__ import annotations

import time
from typing import Any
from typing import Literal

import msgspec

__all__ = [
    "AuditEvent",
    "ChatChunk",
    "ChatOptions",
    "ChatRequest",
    "ChatResult",
    "FunctionCall",
    "HealthState",
    "HealthStatus",
    "Message",
    "ModelInfo",
    "Role",
    "Timings",
    "ToolCall",
    "ToolCallDelta",
    "ToolDefinition",
    "Usage",
]

Role = Literal["system", "user", "assistant", "tool", "developer"]
HealthState = Literal["ready", "loading", "down", "degraded", "locked", "unknown"]


class FunctionCall(msgspec.Struct, omit_defaults=True):
    """The function part of a tool call: a name and JSON-encoded arguments."""

    name: str
    arguments: str = "{}"


class ToolCall(msgspec.Struct, omit_defaults=True):
    """A complete tool call requested by the model (OpenAI shape)."""

    id: str
    function: FunctionCall
    type: Literal["function"] = "function"


class Message(msgspec.Struct, omit_defaults=True):
    """One chat message in OpenAI shape.

    ``content`` is ``None`` only for an assistant message that carries just
    ``tool_calls``. ``reasoning`` holds a model's thinking text when the engine
    separates it.
    """

    role: Role
    content: str | None = None
    name: str | None = None
    tool_calls: list[ToolCall] | None = None
    tool_call_id: str | None = None
    reasoning: str | None = None


class ToolDefinition(msgspec.Struct, omit_defaults=True):
    """A tool offered to a model: name, description, JSON Schema of its arguments."""

    name: str
    description: str = ""
    parameters: dict[str, Any] = msgspec.field(
        default_factory=lambda: {"type": "object", "properties": {}}
    )

    def to_openai(self) -> dict[str, Any]:
        """The ``{"type": "function", "function": {...}}`` form most engines accept."""
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": self.parameters,
            },
        }


class ChatOptions(msgspec.Struct, omit_defaults=True):
    """Sampling and generation options; ``None`` means "the engine's default".

    ``extra`` carries engine-specific options (for example ``repeat_penalty``)
    that a provider may honour; unknown ones are ignored, never an error.
    """

    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    stop: list[str] | None = None
    seed: int | None = None
    extra: dict[str, Any] = msgspec.field(default_factory=dict)


class ChatRequest(msgspec.Struct, omit_defaults=True):
    """What a provider's ``chat`` receives.

    ``model`` is the provider-local name (the ``prefix/`` is already stripped by
    the registry); ``model_id`` is the full id the client asked for.
    """

    model: str
    messages: list[Message]
    options: ChatOptions = msgspec.field(default_factory=ChatOptions)
    tools: list[ToolDefinition] = msgspec.field(default_factory=list)
    model_id: str = ""
    metadata: dict[str, Any] = msgspec.field(default_factory=dict)


class Usage(msgspec.Struct, omit_defaults=True):
    """Token counts of one response. Unknown counts stay ``None``, never 0."""

    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    total_tokens: int | None = None
    reasoning_tokens: int | None = None
    cached_tokens: int | None = None

    def merged(self, other: Usage) -> Usage:
        """A copy where every count known in ``other`` replaces ours."""
        fields = {
            name: getattr(other, name) if getattr(other, name) is not None else getattr(self, name)
            for name in self.__struct_fields__
        }
        usage = Usage(**fields)
        if (
            usage.total_tokens is None
            and usage.prompt_tokens is not None
            and usage.completion_tokens is not None
        ):
            usage.total_tokens = usage.prompt_tokens + usage.completion_tokens
        return usage


class Timings(msgspec.Struct, omit_defaults=True):
    """Time spent on one response, in milliseconds, and throughput."""

    ttft_ms: float | None = None
    total_ms: float | None = None
    load_ms: float | None = None
    prompt_ms: float | None = None
    tokens_per_second: float | None = None
    prompt_tokens_per_second: float | None = None
    peak_memory_mb: float | None = None

    def merged(self, other: Timings) -> Timings:
        """A copy where every figure known in ``other`` replaces ours."""
        return Timings(
            **{
                name: getattr(other, name)
                if getattr(other, name) is not None
                else getattr(self, name)
                for name in self.__struct_fields__
            }
        )


class ToolCallDelta(msgspec.Struct, omit_defaults=True):
    """A fragment of a streamed tool call; fragments with one ``index`` concatenate."""

    index: int = 0
    id: str | None = None
    name: str | None = None
    arguments: str = ""


class ChatChunk(msgspec.Struct, omit_defaults=True):
    """One piece of a streamed answer, as a provider yields it.

    Any field may be empty. ``usage`` and ``timings`` may come on any chunk (many
    engines send them on a final chunk without content); the host merges them.
    """

    content: str = ""
    reasoning: str = ""
    tool_calls: list[ToolCallDelta] = msgspec.field(default_factory=list)
    finish_reason: str | None = None
    usage: Usage | None = None
    timings: Timings | None = None


class ChatResult(msgspec.Struct, omit_defaults=True):
    """A complete answer: the message, why it stopped, usage and timings."""

    model: str
    message: Message
    finish_reason: str | None = None
    usage: Usage = msgspec.field(default_factory=Usage)
    timings: Timings = msgspec.field(default_factory=Timings)
    provider: str | None = None
    cost: float | None = None
    route: dict[str, Any] | None = None


class ModelInfo(msgspec.Struct, omit_defaults=True):
    """A model a provider can serve.

    ``id`` is the full ``prefix/name`` id clients use; ``name`` the provider-local
    name. ``loaded`` is ``None`` when the engine cannot tell.
    """

    id: str
    name: str
    provider: str = ""
    context_length: int | None = None
    local: bool = True
    loaded: bool | None = None
    size_bytes: int | None = None
    capabilities: list[str] = msgspec.field(default_factory=list)
    description: str = ""
    details: dict[str, Any] = msgspec.field(default_factory=dict)


class HealthStatus(msgspec.Struct, omit_defaults=True):
    """The state of a provider or endpoint, with an actionable message."""

    state: HealthState
    message: str = ""
    details: dict[str, Any] = msgspec.field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when the provider can serve requests now."""
        return self.state == "ready"


class AuditEvent(msgspec.Struct, omit_defaults=True):
    """A security-relevant event, fanned out to every auditor.

    ``kind`` is dotted (``tool.call``, ``key.read``, ``plugin.load``...). ``data``
    never holds secrets: the host redacts it before emitting.
    """

    kind: str
    data: dict[str, Any] = msgspec.field(default_factory=dict)
    plugin: str | None = None
    time: float = msgspec.field(default_factory=time.time)
    session: str | None = None
