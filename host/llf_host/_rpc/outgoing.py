"""Requests the server sends to the client, and matching the client's answers.

Ids are strings (``llf-1``, ``llf-2``...) so they never collide with the
client's own ids, which are usually integers.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from typing import Any
from typing import final

import msgspec

from .._errors import LLMError
from .._errors import error_from_wire
from . import wire

__all__ = ["ClientCalls"]

log = logging.getLogger("llf.rpc")


@final
class ClientCalls:
    """Server→client requests waiting for an answer."""

    def __init__(self) -> None:
        self._pending: dict[str, asyncio.Future[Any]] = {}
        self._ids = itertools.count(1)

    def open(self) -> tuple[str, asyncio.Future[Any]]:
        """A new request id and the future its answer will resolve."""
        rid = f"llf-{next(self._ids)}"
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[rid] = future
        return rid, future

    def knows(self, rid: object) -> bool:
        """True when ``rid`` is one of our requests still waiting."""
        return isinstance(rid, str) and rid in self._pending

    def discard(self, rid: str) -> None:
        """Forget ``rid`` (answered, timed out or cancelled)."""
        self._pending.pop(rid, None)

    def resolve(self, env: wire.Envelope) -> None:
        """Settle the future of the request ``env`` answers (unknown ids are ignored)."""
        rid = env.id
        future = self._pending.pop(rid, None) if isinstance(rid, str) else None
        if future is None or future.done():
            log.debug("response for unknown request id %r ignored", rid)
            return
        try:
            if env.error:
                error = msgspec.json.decode(env.error)
                future.set_exception(
                    error_from_wire(error if isinstance(error, dict) else {"message": str(error)})
                )
            else:
                future.set_result(msgspec.json.decode(env.result) if env.result else None)
        except (msgspec.DecodeError, UnicodeDecodeError, RecursionError) as exc:
            future.set_exception(
                LLMError(f"the client's answer could not be decoded: {exc}", kind="bad_response")
            )

    def cancel_all(self) -> None:
        """Cancel every waiting request (the session is ending)."""
        for future in self._pending.values():
            future.cancel()
        self._pending.clear()
