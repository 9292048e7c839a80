"""Request bodies: the host's :class:`~llf_host.ChatRequest` in each wire format.

:func:`openai_body` builds ``/v1/chat/completions`` bodies, :func:`ollama_body`
builds Ollama's native ``/api/chat`` bodies (``options.num_predict`` for
``max_tokens``, tool-call arguments as JSON objects, ``tool_name`` on tool
results). Engine-specific ``options.extra`` entries pass through: top-level for
OpenAI-style servers (``top_k``, ``chat_template_kwargs``, LM Studio's ``ttl``),
under ``options`` for Ollama except the few it takes at the top level
(``keep_alive``, ``think``, ``format``).
"""

from __future__ import annotations

from typing import Any

import msgspec

from llf_host import ChatRequest
from llf_host import Message

__all__ = ["ollama_body", "openai_body"]

_OLLAMA_TOP_LEVEL = frozenset({"keep_alive", "think", "format"})


def _openai_message(message: Message, *, developer_ok: bool) -> dict[str, Any]:
    out: dict[str, Any] = {"role": message.role}
    if message.role == "developer" and not developer_ok:
        out["role"] = "system"
    out["content"] = message.content
    if message.name:
        out["name"] = message.name
    if message.tool_calls:
        out["tool_calls"] = [
            {
                "id": call.id,
                "type": "function",
                "function": {"name": call.function.name, "arguments": call.function.arguments},
            }
            for call in message.tool_calls
        ]
        if message.content is None:
            out["content"] = None
    if message.tool_call_id:
        out["tool_call_id"] = message.tool_call_id
    if out["content"] is None and not message.tool_calls:
        out["content"] = ""
    return out


def openai_body(
    request: ChatRequest,
    *,
    stream: bool,
    stream_usage: bool,
    developer_role: bool = False,
) -> bytes:
    """The JSON body of an OpenAI-style chat completion request."""
    options = request.options
    body: dict[str, Any] = {
        "model": request.model,
        "messages": [_openai_message(m, developer_ok=developer_role) for m in request.messages],
        "stream": stream,
    }
    if options.temperature is not None:
        body["temperature"] = options.temperature
    if options.top_p is not None:
        body["top_p"] = options.top_p
    if options.max_tokens is not None:
        body["max_tokens"] = options.max_tokens
    if options.stop:
        body["stop"] = options.stop
    if options.seed is not None:
        body["seed"] = options.seed
    if request.tools:
        body["tools"] = [tool.to_openai() for tool in request.tools]
    if stream and stream_usage:
        body["stream_options"] = {"include_usage": True}
    for key, value in options.extra.items():
        body.setdefault(key, value)
    return msgspec.json.encode(body)


def _json_object(text: str) -> Any:
    try:
        value = msgspec.json.decode(text) if text else {}
    except msgspec.DecodeError:
        return {"_raw": text}
    return value if isinstance(value, dict) else {"_value": value}


def _ollama_messages(messages: list[Message]) -> list[dict[str, Any]]:
    names_by_call: dict[str, str] = {}
    out: list[dict[str, Any]] = []
    for message in messages:
        role = "system" if message.role == "developer" else message.role
        item: dict[str, Any] = {"role": role, "content": message.content or ""}
        if message.tool_calls:
            item["tool_calls"] = [
                {
                    "function": {
                        "name": call.function.name,
                        "arguments": _json_object(call.function.arguments),
                    }
                }
                for call in message.tool_calls
            ]
            for call in message.tool_calls:
                names_by_call[call.id] = call.function.name
        if message.role == "tool":
            name = message.name or names_by_call.get(message.tool_call_id or "")
            if name:
                item["tool_name"] = name
        out.append(item)
    return out


def ollama_body(request: ChatRequest, *, stream: bool) -> bytes:
    """The JSON body of an Ollama ``/api/chat`` request."""
    options = request.options
    engine_options: dict[str, Any] = {}
    if options.temperature is not None:
        engine_options["temperature"] = options.temperature
    if options.top_p is not None:
        engine_options["top_p"] = options.top_p
    if options.max_tokens is not None:
        engine_options["num_predict"] = options.max_tokens
    if options.stop:
        engine_options["stop"] = options.stop
    if options.seed is not None:
        engine_options["seed"] = options.seed
    body: dict[str, Any] = {
        "model": request.model,
        "messages": _ollama_messages(request.messages),
        "stream": stream,
    }
    for key, value in options.extra.items():
        if key in _OLLAMA_TOP_LEVEL:
            body[key] = value
        elif key == "options" and isinstance(value, dict):
            engine_options.update(value)
        else:
            engine_options[key] = value
    if engine_options:
        body["options"] = engine_options
    if request.tools:
        body["tools"] = [tool.to_openai() for tool in request.tools]
    return msgspec.json.encode(body)
