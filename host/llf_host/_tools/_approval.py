"""Asking a person before a ``confirm = true`` tool runs.

Over the protocol the host sends the client a request (server -> client)::

    --> {"jsonrpc": "2.0", "id": "llf-7", "method": "tools/approve",
         "params": {"tool": "write_note", "plugin": "notes", "description": "...",
                    "arguments": {"text": "hi"}, "permissions": {"network": [],
                    "filesystem": ["/home/me/notes (write)"]}, "requestId": 12}}
    <-- {"jsonrpc": "2.0", "id": "llf-7", "result": {"approved": true}}

The result may also be a bare ``true``/``false``; ``reason`` (optional) is
recorded in the audit log. Anything else, an error, or no answer within
``[sandbox] approval_timeout_s`` is a refusal: the call fails with
:class:`~llf_host.ToolDenied` and nothing runs.
"""

from __future__ import annotations

from collections.abc import Awaitable
from collections.abc import Callable
from typing import TYPE_CHECKING
from typing import Any

import msgspec

from .._errors import LLMError
from .._errors import ToolDenied

if TYPE_CHECKING:
    from .._rpc.registry import RequestContext

__all__ = ["ApprovalAnswer", "ApprovalRequest", "Approver", "client_approver", "parse_answer"]


class ApprovalRequest(msgspec.Struct, omit_defaults=True, rename="camel"):
    """Params of ``tools/approve``: what would run, with which arguments and reach."""

    tool: str
    plugin: str
    description: str
    arguments: dict[str, Any]
    permissions: dict[str, list[str]]
    request_id: int | str | None = None


class ApprovalAnswer(msgspec.Struct):
    """The client's decision."""

    approved: bool
    reason: str | None = None


#: Decides one request; raising ToolDenied is also a refusal (with its own message).
Approver = Callable[[ApprovalRequest], Awaitable[ApprovalAnswer]]


def parse_answer(raw: Any) -> ApprovalAnswer:
    """``true``/``false`` or ``{"approved": bool, "reason"?: str}``; anything else denies."""
    if isinstance(raw, bool):
        return ApprovalAnswer(approved=raw)
    if isinstance(raw, dict) and isinstance(raw.get("approved"), bool):
        reason = raw.get("reason")
        return ApprovalAnswer(approved=raw["approved"], reason=str(reason) if reason else None)
    return ApprovalAnswer(approved=False, reason=f"unrecognised answer {raw!r:.80}")


def client_approver(ctx: RequestContext, *, timeout: float) -> Approver:
    """An approver that asks the client on the other end of ``ctx``."""

    async def ask(request: ApprovalRequest) -> ApprovalAnswer:
        try:
            raw = await ctx.request_client(
                "tools/approve", msgspec.to_builtins(request), timeout=timeout
            )
        except LLMError as exc:
            raise ToolDenied(
                f"tool {request.tool!r} needs approval and the client could not give it: "
                f"{exc.message}",
                hint="use a client that answers tools/approve (docs/protocol.md), or, if you "
                f"trust this tool, set [sandbox.tools.{request.tool}] confirm = false",
                tool=request.tool,
                plugin=request.plugin,
                reason="no_approver",
            ) from None
        return parse_answer(raw)

    return ask
