"""Running one chat: resolve the model, stream the provider, assemble the result.

:class:`ChatAccumulator` turns a provider's chunks into a :class:`ChatResult`
(content and reasoning concatenated, tool-call fragments joined by index, usage
and timings merged from wherever they arrive). :func:`stream_chat` is what the
protocol, the CLI and the router call; it measures time to first token and
throughput itself, since in-process engines report none.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from collections.abc import Awaitable
from collections.abc import Callable
from typing import TYPE_CHECKING
from typing import final

from msgspec import structs

from ._errors import ProviderResponseError
from ._guard import guarded
from ._types import ChatChunk
from ._types import ChatRequest
from ._types import ChatResult
from ._types import FunctionCall
from ._types import Message
from ._types import Timings
from ._types import ToolCall
from ._types import Usage

if TYPE_CHECKING:
    from ._registry import Registry

__all__ = ["ChatAccumulator", "stream_chat"]

ChunkCallback = Callable[[ChatChunk], Awaitable[None] | None]


@final
class ChatAccumulator:
    """Assembles streamed chunks into one message, usage and timings."""

    def __init__(self) -> None:
        self._content: list[str] = []
        self._reasoning: list[str] = []
        self._calls: dict[int, dict[str, str]] = {}
        self.finish_reason: str | None = None
        self.usage = Usage()
        self.timings = Timings()
        #: Chunks that carried output (content, reasoning or tool calls).
        self.token_chunks = 0
        self.first_token_at: float | None = None

    def add(self, chunk: ChatChunk) -> None:
        """Fold one chunk in."""
        if chunk.content or chunk.reasoning or chunk.tool_calls:
            self.token_chunks += 1
            if self.first_token_at is None:
                self.first_token_at = time.perf_counter()
        if chunk.content:
            self._content.append(chunk.content)
        if chunk.reasoning:
            self._reasoning.append(chunk.reasoning)
        for delta in chunk.tool_calls:
            call = self._calls.setdefault(delta.index, {"id": "", "name": "", "arguments": ""})
            if delta.id:
                call["id"] = delta.id
            if delta.name and not call["name"]:
                call["name"] = delta.name
            call["arguments"] += delta.arguments
        if chunk.finish_reason:
            self.finish_reason = chunk.finish_reason
        if chunk.usage is not None:
            self.usage = self.usage.merged(chunk.usage)
        if chunk.timings is not None:
            self.timings = self.timings.merged(chunk.timings)

    @property
    def content(self) -> str:
        """The text so far."""
        return "".join(self._content)

    def message(self) -> Message:
        """The assistant message assembled from every chunk."""
        tool_calls = [
            ToolCall(
                id=call["id"] or f"call_{index}",
                function=FunctionCall(name=call["name"], arguments=call["arguments"] or "{}"),
            )
            for index, call in sorted(self._calls.items())
        ]
        content = self.content
        return Message(
            role="assistant",
            content=content if content or not tool_calls else None,
            tool_calls=tool_calls or None,
            reasoning="".join(self._reasoning) or None,
        )

    def result(self, model: str, provider: str | None = None) -> ChatResult:
        """The complete result."""
        return ChatResult(
            model=model,
            message=self.message(),
            finish_reason=self.finish_reason or ("tool_calls" if self._calls else "stop"),
            usage=self.usage,
            timings=self.timings,
            provider=provider,
        )


async def stream_chat(
    registry: Registry,
    request: ChatRequest,
    on_chunk: ChunkCallback | None = None,
) -> ChatResult:
    """Run ``request`` (``model_id`` is ``prefix/name``) and return the full result.

    ``on_chunk`` sees every chunk as it arrives (for streaming to a client). The
    host measures TTFT, total time and tokens/s; figures a provider reports itself
    win over the host's.
    """
    entry, local_name = registry.resolve_model(request.model_id or request.model)
    req = structs.replace(request, model=local_name, model_id=request.model_id or request.model)
    acc = ChatAccumulator()
    start = time.perf_counter()
    stream: AsyncIterator[ChatChunk]
    with entry.lease.hold(), guarded(entry.plugin, f"{type(entry.obj).__name__}.chat()"):
        stream = entry.obj.chat(req)
        async for chunk in stream:
            if not isinstance(chunk, ChatChunk):
                raise ProviderResponseError(
                    f"provider {entry.key!r} yielded {type(chunk).__name__}, expected ChatChunk",
                    hint="a provider's chat() must yield llf_host.ChatChunk objects",
                    provider=entry.key,
                )
            acc.add(chunk)
            if on_chunk is not None:
                maybe = on_chunk(chunk)
                if maybe is not None:
                    await maybe
    end = time.perf_counter()
    measured = Timings(total_ms=(end - start) * 1000)
    if acc.first_token_at is not None:
        measured.ttft_ms = (acc.first_token_at - start) * 1000
        gen_s = end - acc.first_token_at
        tokens = acc.usage.completion_tokens
        if tokens and acc.token_chunks >= 2 and gen_s > 0:
            # Streamed: the first token's time is prompt processing, not generation.
            measured.tokens_per_second = (tokens - 1) / gen_s
        elif tokens and end > start:
            # One chunk (a non-streamed answer): only the whole call's rate is known.
            measured.tokens_per_second = tokens / (end - start)
    acc.timings = measured.merged(acc.timings)
    return acc.result(req.model_id, provider=entry.key)
