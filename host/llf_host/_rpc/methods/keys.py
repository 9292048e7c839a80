"""``keys/*``: manage the key store over the protocol. No method returns a secret.

``keys/set`` answers with the name and dates only; errors name the key, never
the value. Writes run in a worker thread (file lock, fsync) so the host keeps
serving meanwhile.
"""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec

from ..._errors import NotAvailableError
from ..._keys import KeyStore
from ..registry import RequestContext
from ..registry import rpc_method

__all__ = ["KeyDeleteParams", "KeySetParams", "keys_delete", "keys_list", "keys_set"]


class KeySetParams(msgspec.Struct, forbid_unknown_fields=True):
    """``keys/set`` params: the key's name and its secret value."""

    name: str
    value: str

    def __repr__(self) -> str:
        return f"KeySetParams(name={self.name!r}, value=<hidden>)"


class KeyDeleteParams(msgspec.Struct, forbid_unknown_fields=True):
    """``keys/delete`` params: the key's name."""

    name: str


def _store(ctx: RequestContext) -> KeyStore:
    store = ctx.host.keys
    if not isinstance(store, KeyStore):
        raise NotAvailableError(
            "this host has no key store attached",
            hint="start the host with Host.start() (it attaches the key store)",
            family="keys",
        )
    return store


def _info(name: str, created: float, updated: float) -> dict[str, Any]:
    return {"name": name, "created": created, "updated": updated}


@rpc_method("keys/set", params=KeySetParams)
async def keys_set(ctx: RequestContext, params: KeySetParams) -> dict[str, Any]:
    """Store a secret under ``name`` (created or replaced). Returns name and dates only."""
    store = _store(ctx)
    info = await asyncio.to_thread(store.set, params.name, params.value, source="protocol")
    return _info(info.name, info.created, info.updated)


@rpc_method("keys/list")
async def keys_list(ctx: RequestContext, params: Any) -> dict[str, Any]:
    """Names and dates of the stored keys (``keystore_locked`` error when locked)."""
    store = _store(ctx)
    if not store.unlocked and not store.exists:
        return {"keys": [], "path": str(store.path)}
    infos = await asyncio.to_thread(store.list)
    return {"keys": [_info(i.name, i.created, i.updated) for i in infos], "path": str(store.path)}


@rpc_method("keys/delete", params=KeyDeleteParams)
async def keys_delete(ctx: RequestContext, params: KeyDeleteParams) -> dict[str, Any]:
    """Remove the key ``name``; ``key_not_found`` error when it is not stored."""
    store = _store(ctx)
    await asyncio.to_thread(store.delete, params.name, source="protocol")
    return {"name": params.name, "deleted": True}
