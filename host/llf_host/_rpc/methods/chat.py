"""``chat/complete``: one answer from a model, streamed or not.

With ``stream: {token}`` the host sends ``$/progress {token, value: {kind:
"delta", content?, reasoning?, tool_calls?}}`` as output arrives; the final
response always carries the complete :class:`~llf_host.ChatResult`, so a client
may ignore the stream (deliberately unlike LSP's partialResultToken rule).
"""

from __future__ import annotations

from typing import Any

import msgspec

from ..._routing.service import get_router
from ..._types import ChatChunk
from ..._types import ChatOptions
from ..._types import ChatRequest
from ..._types import ChatResult
from ..._types import Message
from ..._types import ToolDefinition
from ..dispatcher import InvalidParams
from ..registry import RequestContext
from ..registry import rpc_method

__all__ = ["ChatCompleteParams", "StreamParams", "complete"]


class StreamParams(msgspec.Struct, forbid_unknown_fields=True):
    """Where to stream: the client's own progress token."""

    token: str | int


class ChatCompleteParams(msgspec.Struct, forbid_unknown_fields=True):
    """Params of ``chat/complete``."""

    messages: list[Message]
    #: ``prefix/name`` (``models/list`` shows the ids); may be empty when ``task``,
    #: ``route`` or the routing policy's ``default_rule`` chooses the model.
    model: str = ""
    options: ChatOptions = msgspec.field(default_factory=ChatOptions)
    tools: list[ToolDefinition] = msgspec.field(default_factory=list)
    stream: StreamParams | None = None
    #: Free-form data passed to the provider in ``ChatRequest.metadata``.
    metadata: dict[str, Any] = msgspec.field(default_factory=dict)
    #: Routing (docs/routing.md): a budget id from ``budget/create`` (shared by every
    #: request that names it), the task type the routing rules are keyed by, or the
    #: name of one rule to use.
    budget: str | None = None
    task: str | None = None
    route: str | None = None
    #: Continue a stored conversation (docs/memory.md): ``messages`` holds only the
    #: new messages (may be empty to answer the current leaf); the host appends
    #: them, sends the whole branch and stores the answer with usage and timings.
    conversation_id: str | None = None


def _delta(chunk: ChatChunk) -> dict[str, Any] | None:
    value: dict[str, Any] = {"kind": "delta"}
    if chunk.content:
        value["content"] = chunk.content
    if chunk.reasoning:
        value["reasoning"] = chunk.reasoning
    if chunk.tool_calls:
        value["tool_calls"] = chunk.tool_calls
    return value if len(value) > 1 else None


def _request(params: ChatCompleteParams) -> ChatRequest:
    if not params.messages and params.conversation_id is None:
        raise InvalidParams(
            "messages",
            "at least one message is required",
            hint='send e.g. [{"role": "user", "content": "hello"}]',
        )
    return ChatRequest(
        model=params.model,
        messages=params.messages,
        options=params.options,
        tools=params.tools,
        model_id=params.model,
        metadata=params.metadata,
    )


@rpc_method("chat/complete", params=ChatCompleteParams, streaming=True)
async def complete(ctx: RequestContext, params: ChatCompleteParams) -> ChatResult:
    """Run one chat completion; stream deltas as ``$/progress`` when asked."""
    request = _request(params)
    turn = None
    if params.conversation_id is not None:
        from ..._memory import prepare_conversation_turn

        turn = await prepare_conversation_turn(ctx.host, params.conversation_id, params.messages)
        if not turn.messages:
            raise InvalidParams(
                "messages", "the conversation is empty", hint="send the first message"
            )
        request = msgspec.structs.replace(request, messages=turn.messages)
    on_chunk = None
    if params.stream is not None:
        token = params.stream.token

        async def on_chunk(chunk: ChatChunk) -> None:
            value = _delta(chunk)
            if value is not None:
                await ctx.progress(token, value)

    # The router takes the model's plugin slot ([host] plugin_concurrency) itself,
    # for whichever model serves the request (routed, fallbacks, chat/compare).
    result = await get_router(ctx.host).chat(
        request, task=params.task, route=params.route, budget=params.budget, on_chunk=on_chunk
    )
    if turn is not None:
        from ..._memory import record_assistant

        await record_assistant(ctx.host, turn.conversation_id, result, parent_id=turn.leaf_id)
    return result
