"""Turning chat messages into the prompt text a model was trained on.

Resolution order for a loaded model (first match wins):

1. the configured ``chat_format`` (per model, then for the plugin), unless ``auto``;
2. the GGUF's own Jinja template (``tokenizer.chat_template``);
3. a fallback chosen from the model's special tokens (``<start_of_turn>`` means
   Gemma, ``<|im_start|>`` ChatML, ``<|start_header_id|>`` Llama 3, ``<|user|>``
   Phi 3, ``[INST]`` Mistral), then from ``general.architecture``;
4. ChatML, with a warning that names the setting to fix it.

llama-cpp-python's own last resort is the Llama 2 format, which produces
garbage for most modern models; it is only used when configured by name.
The renderers here are pure functions of the messages; the template renderer
is built by the engine (it needs llama-cpp-python's sandboxed Jinja formatter).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from collections.abc import Sequence
from typing import Any
from typing import final

__all__ = [
    "FALLBACK_FORMATS",
    "PASSTHROUGH_PREFIX",
    "ChatFormat",
    "RenderedPrompt",
    "fallback_for",
    "render_fallback",
]

log = logging.getLogger("llf.plugin.llama_cpp")

#: ``chat_format = "llama_cpp:<name>"`` hands requests to llama-cpp-python's own
#: chat handler of that name (e.g. ``chatml-function-calling`` for tool calls).
PASSTHROUGH_PREFIX = "llama_cpp:"

Messages = Sequence[dict[str, Any]]


@final
class RenderedPrompt:
    """A prompt ready to tokenize: its text, extra stop strings, whether to add BOS."""

    __slots__ = ("add_bos", "stop", "text")

    def __init__(self, text: str, stop: Sequence[str] = (), *, add_bos: bool = True) -> None:
        self.text = text
        self.stop = list(stop)
        self.add_bos = add_bos

    def __repr__(self) -> str:
        return f"RenderedPrompt({self.text!r}, stop={self.stop!r}, add_bos={self.add_bos})"


@final
class ChatFormat:
    """The chat format chosen for one loaded model, and why it was chosen."""

    def __init__(
        self,
        name: str,
        source: str,
        render: Callable[[Messages], RenderedPrompt] | None,
    ) -> None:
        #: ``gemma``, ``chatml``, ``template``, ``llama_cpp:<name>``...
        self.name = name
        #: ``config``, ``gguf`` or ``fallback: <reason>``: shown in model details.
        self.source = source
        self._render = render

    @property
    def passthrough(self) -> bool:
        """True when llama-cpp-python's own chat handler formats the prompt."""
        return self._render is None

    def render(self, messages: Messages) -> RenderedPrompt:
        """The prompt for ``messages`` (not available for passthrough formats)."""
        if self._render is None:
            raise RuntimeError(f"chat format {self.name!r} is rendered by llama-cpp-python")
        return self._render(messages)

    def __repr__(self) -> str:
        return f"<ChatFormat {self.name} ({self.source})>"


def _text(message: dict[str, Any]) -> str:
    content = message.get("content")
    return content if isinstance(content, str) else ""


def _split_system(messages: Messages) -> tuple[str, list[dict[str, Any]]]:
    system = [_text(m) for m in messages if m.get("role") in ("system", "developer")]
    rest = [m for m in messages if m.get("role") not in ("system", "developer")]
    return "\n\n".join(s for s in system if s), rest


def render_gemma(messages: Messages) -> RenderedPrompt:
    """Gemma (1, 2, 3) turns; system text is folded into the first user turn."""
    system, rest = _split_system(messages)
    parts: list[str] = []
    for index, message in enumerate(rest):
        role = "model" if message.get("role") == "assistant" else "user"
        text = _text(message)
        if index == 0 and system:
            text = f"{system}\n\n{text}" if role == "user" else text
            if role != "user":
                parts.append(f"<start_of_turn>user\n{system}<end_of_turn>\n")
        parts.append(f"<start_of_turn>{role}\n{text}<end_of_turn>\n")
    if not rest and system:
        parts.append(f"<start_of_turn>user\n{system}<end_of_turn>\n")
    parts.append("<start_of_turn>model\n")
    return RenderedPrompt("".join(parts), ["<end_of_turn>"])


def render_chatml(messages: Messages) -> RenderedPrompt:
    """ChatML (Qwen, many fine-tunes): ``<|im_start|>role ... <|im_end|>``."""
    parts = []
    for message in messages:
        role = message.get("role", "user")
        role = "system" if role == "developer" else role
        parts.append(f"<|im_start|>{role}\n{_text(message)}<|im_end|>\n")
    parts.append("<|im_start|>assistant\n")
    return RenderedPrompt("".join(parts), ["<|im_end|>"], add_bos=False)


def render_llama3(messages: Messages) -> RenderedPrompt:
    """Llama 3.x: header-delimited turns ending in ``<|eot_id|>``."""
    parts = []
    for message in messages:
        role = message.get("role", "user")
        role = {"developer": "system", "tool": "ipython"}.get(role, role)
        parts.append(f"<|start_header_id|>{role}<|end_header_id|>\n\n{_text(message)}<|eot_id|>")
    parts.append("<|start_header_id|>assistant<|end_header_id|>\n\n")
    return RenderedPrompt("".join(parts), ["<|eot_id|>"])


def render_phi3(messages: Messages) -> RenderedPrompt:
    """Phi 3 / 3.5: ``<|user|>`` ... ``<|end|>`` turns."""
    parts = []
    for message in messages:
        role = message.get("role", "user")
        role = {"developer": "system", "tool": "user"}.get(role, role)
        parts.append(f"<|{role}|>\n{_text(message)}<|end|>\n")
    parts.append("<|assistant|>\n")
    return RenderedPrompt("".join(parts), ["<|end|>"])


def render_mistral(messages: Messages) -> RenderedPrompt:
    """Mistral instruct: ``[INST] ... [/INST]``; system text joins the first turn."""
    system, rest = _split_system(messages)
    parts = []
    for message in rest:
        text = _text(message)
        if message.get("role") == "assistant":
            parts.append(f" {text}</s>")
        else:
            if system:
                text, system = f"{system}\n\n{text}", ""
            parts.append(f"[INST] {text} [/INST]")
    if system:
        parts.append(f"[INST] {system} [/INST]")
    return RenderedPrompt("".join(parts), ["</s>"])


def render_llama2(messages: Messages) -> RenderedPrompt:
    """Llama 2 chat (only when configured by name: it is wrong for most models)."""
    system, rest = _split_system(messages)
    parts = []
    for message in rest:
        text = _text(message)
        if message.get("role") == "assistant":
            parts.append(f" {text} </s><s>")
        else:
            if system:
                text, system = f"<<SYS>>\n{system}\n<</SYS>>\n\n{text}", ""
            parts.append(f"[INST] {text} [/INST]")
    return RenderedPrompt("".join(parts), ["</s>"])


def render_raw(messages: Messages) -> RenderedPrompt:
    """No chat markup: the messages' text joined by blank lines (base models)."""
    return RenderedPrompt("\n\n".join(_text(m) for m in messages if _text(m)))


FALLBACK_FORMATS: dict[str, Callable[[Messages], RenderedPrompt]] = {
    "chatml": render_chatml,
    "gemma": render_gemma,
    "llama-2": render_llama2,
    "llama-3": render_llama3,
    "mistral": render_mistral,
    "phi-3": render_phi3,
    "raw": render_raw,
}

#: Special tokens that identify a format, checked in this order.
_TOKEN_MARKERS: tuple[tuple[str, str], ...] = (
    ("<start_of_turn>", "gemma"),
    ("<|im_start|>", "chatml"),
    ("<|start_header_id|>", "llama-3"),
    ("<|assistant|>", "phi-3"),
    ("[INST]", "mistral"),
)

_ARCHITECTURES: dict[str, str] = {
    "gemma": "gemma",
    "gemma2": "gemma",
    "gemma3": "gemma",
    "gemma3n": "gemma",
    "qwen": "chatml",
    "qwen2": "chatml",
    "qwen2moe": "chatml",
    "qwen3": "chatml",
    "qwen3moe": "chatml",
    "phi3": "phi-3",
}


def fallback_for(architecture: str, has_special_token: Callable[[str], bool]) -> tuple[str, str]:
    """The fallback format for a model without a template, and the reason.

    ``has_special_token(text)`` says whether ``text`` is a single special token
    in the model's vocabulary.
    """
    for marker, name in _TOKEN_MARKERS:
        if has_special_token(marker):
            return name, f"fallback: the vocabulary has {marker}"
    if architecture in _ARCHITECTURES:
        return _ARCHITECTURES[architecture], f"fallback: architecture {architecture}"
    log.warning(
        "model architecture %r has no chat template and no known turn markers; using ChatML. "
        "Set chat_format for this model in [plugins.llama_cpp] if the answers look wrong",
        architecture,
    )
    return "chatml", f"fallback: unknown architecture {architecture!r}"


def render_fallback(name: str) -> Callable[[Messages], RenderedPrompt]:
    """The renderer of a named fallback format (KeyError when unknown)."""
    return FALLBACK_FORMATS[name]
