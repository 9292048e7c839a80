"""``tools/*``: list the registered tools and call one in the sandbox.

``tools/call`` failures are typed JSON-RPC errors (``data.kind``):
``tool_not_found``, ``tool_arguments_invalid``, ``tool_timeout``,
``tool_resource_limit`` (``data.limit``), ``tool_crashed`` (``data.signal`` /
``data.exit_code``, ``data.stderr``), ``tool_output_too_large``,
``tool_denied``, ``sandbox_denied`` (``data.what``, ``data.path``/``data.host``,
and the permission to grant in ``data.hint``), ``rate_limited``
(``data.retry_after``) and ``tool_error`` (the tool raised; ``data.exception``,
``data.traceback``). A ``confirm = true`` tool makes the host send the client a
``tools/approve`` request first (see ``llf_host._tools._approval``).
"""

from __future__ import annotations

from typing import Any

import msgspec

from ..registry import NoParams
from ..registry import RequestContext
from ..registry import rpc_method

__all__ = ["CallParams", "call_tool", "list_tools"]


class CallParams(msgspec.Struct, forbid_unknown_fields=True):
    """``tools/call`` params: the tool name and its arguments (a JSON object)."""

    name: str
    arguments: Any = msgspec.field(default_factory=dict)


@rpc_method("tools/list", params=NoParams)
async def list_tools(ctx: RequestContext, params: NoParams) -> dict[str, Any]:
    """Every tool: name, plugin, description, parameters schema, permissions, limits."""
    from ..._tools import get_tool_runner  # the sandbox loads on first use, not at start

    return {"tools": get_tool_runner(ctx.host).list_tools()}


@rpc_method("tools/call", params=CallParams)
async def call_tool(ctx: RequestContext, params: CallParams) -> dict[str, Any]:
    """Run a tool in the sandbox; the result is ``{name, result, duration_ms, stdout?, stderr?}``.

    Cancelling the request (``$/cancelRequest``) kills the call.
    """
    from ..._tools import client_approver
    from ..._tools import get_tool_runner

    runner = get_tool_runner(ctx.host)
    result = await runner.call(
        params.name,
        params.arguments,
        approver=client_approver(ctx, timeout=runner.settings.approval_timeout_s),
        request_id=ctx.request_id,
    )
    out: dict[str, Any] = msgspec.to_builtins(result)
    return out
