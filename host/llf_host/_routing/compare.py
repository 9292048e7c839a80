"""One prompt to several models at once (``chat/compare``).

Every model runs concurrently through the router (so budgets, limits and
metrics apply), and one model failing does not fail the others: its entry
carries the error. Answers come back in the order the models were given, each
with its wall-clock time; the total wall time shows the concurrency.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING
from typing import Any

import msgspec

from .._errors import LLMError
from .._types import ChatOptions
from .._types import ChatRequest
from .._types import Message
from .._types import ToolDefinition

if TYPE_CHECKING:
    from .budget import Budget
    from .service import Router

__all__ = ["compare_models"]


async def compare_models(
    router: Router,
    models: list[str],
    messages: list[Message],
    *,
    options: ChatOptions | None = None,
    tools: list[ToolDefinition] | None = None,
    budget: Budget | None = None,
) -> dict[str, Any]:
    """``{"results": [{model, ok, result | error, wall_ms}], "wall_ms": total}``."""

    async def one(model: str) -> dict[str, Any]:
        request = ChatRequest(
            model=model,
            model_id=model,
            messages=list(messages),
            options=options or ChatOptions(),
            tools=list(tools or []),
        )
        start = time.perf_counter()
        try:
            result = await router.chat(request, budget=budget)
        except LLMError as exc:
            wall = round((time.perf_counter() - start) * 1000, 3)
            return {"model": model, "ok": False, "error": exc.to_wire(), "wall_ms": wall}
        wall = round((time.perf_counter() - start) * 1000, 3)
        return {"model": model, "ok": True, "result": msgspec.to_builtins(result), "wall_ms": wall}

    start = time.perf_counter()
    answers = await asyncio.gather(*(one(m) for m in models))
    return {"results": list(answers), "wall_ms": round((time.perf_counter() - start) * 1000, 3)}
