"""Cheap token estimates for budget reservations and context checks.

The budget reserves *before* the provider runs, from an estimate of the prompt
plus ``max_tokens``; the real usage replaces it afterwards. The estimate is
deliberately simple and slightly generous (about 4 characters per token, plus a
few tokens of framing per message), since no tokenizer is loaded for this.
"""

from __future__ import annotations

import math

import msgspec

from .._types import ChatRequest
from .._types import Message

__all__ = ["estimate_prompt_tokens", "estimate_text_tokens"]

_CHARS_PER_TOKEN = 4.0
_PER_MESSAGE = 4


def estimate_text_tokens(text: str) -> int:
    """About how many tokens ``text`` is (rounded up; 0 for empty text)."""
    return math.ceil(len(text) / _CHARS_PER_TOKEN) if text else 0


def _message_tokens(message: Message) -> int:
    total = _PER_MESSAGE + estimate_text_tokens(message.content or "")
    if message.tool_calls:
        total += estimate_text_tokens(msgspec.json.encode(message.tool_calls).decode())
    return total


def estimate_prompt_tokens(request: ChatRequest) -> int:
    """About how many prompt tokens ``request`` sends (messages and tool schemas)."""
    total = sum(_message_tokens(m) for m in request.messages)
    if request.tools:
        total += estimate_text_tokens(msgspec.json.encode(request.tools).decode())
    return total
