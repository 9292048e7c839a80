"""Engine payloads -> the host's :class:`~llf_host.ChatChunk`.

Pure functions, one per payload shape:

- :func:`openai_chunk` for a streamed ``chat.completion.chunk`` (and the
  non-streamed ``chat.completion``, whose ``message`` is read like a ``delta``);
- :func:`ollama_line` for a line of Ollama's native ``/api/chat`` stream.

They tolerate what engines really send: ``choices`` empty (usage-only chunks),
``content: null`` with only a role, ``delta: {}`` on the finish chunk, reasoning
under ``reasoning_content`` / ``reasoning`` / ``thinking``, tool-call arguments as
string fragments or as a whole JSON object, usage on the finish chunk or on a
chunk of its own, and server timings (llama-server ``timings``, LM Studio
``stats``, Ollama's nanosecond durations). ``object`` is never checked (mlx
labels its usage chunk ``chat.completion``).
"""

from __future__ import annotations

from typing import Any

import msgspec

from llf_host import ChatChunk
from llf_host import Timings
from llf_host import ToolCallDelta
from llf_host import Usage

__all__ = ["OllamaToolIndex", "ollama_line", "openai_chunk", "openai_usage", "server_timings"]

_REASONING_FIELDS = ("reasoning_content", "reasoning", "thinking")
_encode = msgspec.json.encode


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _num(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


def openai_usage(raw: Any) -> Usage | None:
    """Usage from an OpenAI-style ``usage`` object (None when absent or empty)."""
    if not isinstance(raw, dict) or not raw:
        return None
    usage = Usage(
        prompt_tokens=_int(raw.get("prompt_tokens")),
        completion_tokens=_int(raw.get("completion_tokens")),
        total_tokens=_int(raw.get("total_tokens")),
    )
    details = raw.get("completion_tokens_details")
    if isinstance(details, dict):
        usage.reasoning_tokens = _int(details.get("reasoning_tokens"))
    prompt_details = raw.get("prompt_tokens_details")
    if isinstance(prompt_details, dict):
        usage.cached_tokens = _int(prompt_details.get("cached_tokens"))
    if (
        usage.total_tokens is None
        and usage.prompt_tokens is not None
        and usage.completion_tokens is not None
    ):
        usage.total_tokens = usage.prompt_tokens + usage.completion_tokens
    return usage


def server_timings(obj: dict[str, Any]) -> Timings | None:
    """Server-side timings: llama-server ``timings`` or LM Studio v0 ``stats``."""
    timings = obj.get("timings")
    if isinstance(timings, dict):
        return Timings(
            prompt_ms=_num(timings.get("prompt_ms")),
            tokens_per_second=_num(timings.get("predicted_per_second")),
            prompt_tokens_per_second=_num(timings.get("prompt_per_second")),
        )
    stats = obj.get("stats")
    if isinstance(stats, dict):
        tps = _num(stats.get("tokens_per_second"))
        return Timings(tokens_per_second=tps) if tps is not None else None
    return None


def _arguments(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return _encode(value).decode()


def _tool_deltas(raw: Any, offset: int = 0) -> list[ToolCallDelta]:
    if not isinstance(raw, list):
        return []
    deltas: list[ToolCallDelta] = []
    for position, call in enumerate(raw):
        if not isinstance(call, dict):
            continue
        function = call.get("function")
        fn: dict[str, Any] = function if isinstance(function, dict) else {}
        index = _int(call.get("index"))
        name = fn.get("name")
        call_id = call.get("id")
        deltas.append(
            ToolCallDelta(
                index=index if index is not None else offset + position,
                id=call_id if isinstance(call_id, str) and call_id else None,
                name=name if isinstance(name, str) and name else None,
                arguments=_arguments(fn.get("arguments")),
            )
        )
    return deltas


def _reasoning(message: dict[str, Any]) -> str:
    for field in _REASONING_FIELDS:
        value = message.get(field)
        if isinstance(value, str) and value:
            return value
    return ""


def openai_chunk(obj: dict[str, Any]) -> ChatChunk | None:
    """Normalise one OpenAI-style chunk or response; None when it carries nothing."""
    content = ""
    reasoning = ""
    tool_calls: list[ToolCallDelta] = []
    finish: str | None = None
    choices = obj.get("choices")
    if isinstance(choices, list) and choices:
        choice = choices[0]
        if isinstance(choice, dict):
            delta = choice.get("delta")
            if not isinstance(delta, dict):
                delta = choice.get("message")
            if isinstance(delta, dict):
                text = delta.get("content")
                if isinstance(text, str):
                    content = text
                reasoning = _reasoning(delta)
                tool_calls = _tool_deltas(delta.get("tool_calls"))
            else:
                text = choice.get("text")  # legacy completions shape
                if isinstance(text, str):
                    content = text
            reason = choice.get("finish_reason")
            if isinstance(reason, str) and reason:
                finish = reason
    usage = openai_usage(obj.get("usage"))
    timings = server_timings(obj)
    if not (content or reasoning or tool_calls or finish or usage or timings):
        return None
    return ChatChunk(
        content=content,
        reasoning=reasoning,
        tool_calls=tool_calls,
        finish_reason=finish,
        usage=usage,
        timings=timings,
    )


class OllamaToolIndex:
    """Numbers Ollama's native tool calls across lines (each arrives whole)."""

    __slots__ = ("count",)

    def __init__(self) -> None:
        self.count = 0


def _ns_to_ms(value: Any) -> float | None:
    number = _num(value)
    return number / 1e6 if number is not None else None


def _per_second(count: Any, duration_ns: Any) -> float | None:
    n, d = _num(count), _num(duration_ns)
    if n is None or not d:
        return None
    return n / d * 1e9


def ollama_line(obj: dict[str, Any], tools: OllamaToolIndex) -> ChatChunk | None:
    """Normalise one line of Ollama's ``/api/chat`` (streamed or not)."""
    content = ""
    reasoning = ""
    tool_calls: list[ToolCallDelta] = []
    message = obj.get("message")
    if isinstance(message, dict):
        text = message.get("content")
        if isinstance(text, str):
            content = text
        reasoning = _reasoning(message)
        tool_calls = _tool_deltas(message.get("tool_calls"), offset=tools.count)
        if tool_calls:
            # Ollama's own "index" (when present) restarts per line; ours must not.
            tool_calls = [
                ToolCallDelta(
                    index=tools.count + i,
                    id=delta.id or f"call_{tools.count + i}",
                    name=delta.name,
                    arguments=delta.arguments or "{}",
                )
                for i, delta in enumerate(tool_calls)
            ]
            tools.count += len(tool_calls)
    finish: str | None = None
    usage: Usage | None = None
    timings: Timings | None = None
    if obj.get("done") is True:
        reason = obj.get("done_reason")
        finish = reason if isinstance(reason, str) and reason else "stop"
        if tools.count and finish == "stop":
            finish = "tool_calls"
        prompt, completion = _int(obj.get("prompt_eval_count")), _int(obj.get("eval_count"))
        usage = Usage(prompt_tokens=prompt, completion_tokens=completion)
        if prompt is not None and completion is not None:
            usage.total_tokens = prompt + completion
        timings = Timings(
            load_ms=_ns_to_ms(obj.get("load_duration")),
            prompt_ms=_ns_to_ms(obj.get("prompt_eval_duration")),
            tokens_per_second=_per_second(obj.get("eval_count"), obj.get("eval_duration")),
            prompt_tokens_per_second=_per_second(
                obj.get("prompt_eval_count"), obj.get("prompt_eval_duration")
            ),
        )
    if not (content or reasoning or tool_calls or finish):
        return None
    return ChatChunk(
        content=content,
        reasoning=reasoning,
        tool_calls=tool_calls,
        finish_reason=finish,
        usage=usage,
        timings=timings,
    )
