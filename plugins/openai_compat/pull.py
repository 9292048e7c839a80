"""Downloading a model into Ollama (``POST /api/pull``) with aggregated progress.

Ollama streams NDJSON status lines: ``pulling manifest``, then one
``pulling <digest>`` line per progress update of each layer (``total`` and,
once it starts, ``completed``), then ``verifying sha256 digest``, ``writing
manifest`` and ``success``; a failure is an ``{"error": ...}`` line. Progress is
summed over every layer seen so far, so a bar can show one number.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import msgspec

from llf_host import ModelNotFoundError
from llf_host import ProviderResponseError

from .errors import ErrorContext
from .errors import error_from_payload
from .errors import error_from_transport
from .ndjson import NDJSONParser
from .transport import EndpointClient
from .transport import RetryPolicy

__all__ = ["PullProgress", "PullTracker", "pull_model"]


class PullProgress(msgspec.Struct, frozen=True):
    """Where a pull stands: the last status and bytes over every layer."""

    status: str
    completed: int = 0
    total: int = 0
    digest: str | None = None
    done: bool = False

    @property
    def fraction(self) -> float | None:
        """0..1 when the size is known."""
        return self.completed / self.total if self.total else None


class PullTracker:
    """Folds Ollama's per-layer status lines into one :class:`PullProgress`."""

    def __init__(self) -> None:
        self._totals: dict[str, int] = {}
        self._completed: dict[str, int] = {}

    def update(self, line: dict[str, object]) -> PullProgress:
        """Account for one status line."""
        status = str(line.get("status") or "")
        digest = line.get("digest")
        if isinstance(digest, str) and digest:
            total = line.get("total")
            if isinstance(total, int):
                self._totals[digest] = total
            completed = line.get("completed")
            if isinstance(completed, int):
                self._completed[digest] = completed
        return PullProgress(
            status=status,
            completed=sum(self._completed.values()),
            total=sum(self._totals.values()),
            digest=digest if isinstance(digest, str) else None,
            done=status == "success",
        )


async def pull_model(
    client: EndpointClient, ctx: ErrorContext, model: str
) -> AsyncIterator[PullProgress]:
    """Drive ``/api/pull`` for ``model`` and yield progress until ``success``."""
    import httpx

    tracker = PullTracker()
    parser = NDJSONParser()
    body = msgspec.json.encode({"model": model, "stream": True})
    url = client.url("/api/pull", native=True)
    finished = False
    async with client.open(ctx, "POST", url, body=body, policy=RetryPolicy(retries=1)) as response:
        try:
            async for raw in response.aiter_bytes():
                try:
                    lines = parser.feed(raw)
                except ValueError as exc:
                    raise ProviderResponseError(
                        f"Ollama at {ctx.address} sent a bad progress line: {exc}",
                        hint="check the Ollama server's log",
                        **ctx.data(),
                    ) from None
                for line in lines:
                    if not isinstance(line, dict):
                        continue
                    if "error" in line:
                        raise _pull_error(ctx, model, line)
                    progress = tracker.update(line)
                    finished = finished or progress.done
                    yield progress
        except httpx.HTTPError as exc:
            raise error_from_transport(ctx, exc, streaming=True) from None
    if not finished:
        raise ProviderResponseError(
            f"Ollama at {ctx.address} stopped sending progress before the pull of `{model}` "
            "finished",
            hint=f"run the pull again (`llf-host models pull ollama/{model}`); it resumes",
            **ctx.data(reason="truncated"),
        )


def _pull_error(ctx: ErrorContext, model: str, line: dict[str, object]) -> Exception:
    message = str(line.get("error"))
    low = message.lower()
    if "file does not exist" in low or "not found" in low or "manifest unknown" in low:
        return ModelNotFoundError(
            f"Ollama's library has no model `{model}` ({message})",
            hint="check the name and tag at https://ollama.com/library",
            **ctx.data(server_message=message),
        )
    mapped = error_from_payload(ctx, {"error": message})
    return mapped or ProviderResponseError(message, **ctx.data())
