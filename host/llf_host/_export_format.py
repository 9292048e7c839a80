"""The JSON export document (``llf-host-export``, version 1): reading and checking it.

The exporters plugin writes the document; this module is the host's reader,
used by ``llf-host export import``, ``export/import`` and the memory import:
it checks the format name and version, decodes every conversation with errors
that name the field, and orders each tree parents first (rejecting orphans and
cycles) so a backend can store it. docs/exporters.md describes the format.
"""

from __future__ import annotations

from typing import Any
from typing import Final

import msgspec

from ._errors import MemoryStoreError
from ._memory_contract import ConversationExport
from ._memory_contract import StoredMessage

__all__ = ["FORMAT_NAME", "FORMAT_VERSION", "decode_export", "parents_first"]

#: ``format`` of the JSON export document.
FORMAT_NAME: Final = "llf-host-export"
#: The newest document version this host reads and writes.
FORMAT_VERSION: Final = 1


class _Document(msgspec.Struct):
    format: str
    version: int
    conversations: list[ConversationExport]


class _Header(msgspec.Struct):
    format: str | None = None
    version: int | None = None


def _invalid(source: str, problem: str, hint: str, **data: Any) -> MemoryStoreError:
    return MemoryStoreError(
        f"{source} is not an importable llf-host export: {problem}",
        hint=hint,
        source=source,
        **data,
    )


def decode_export(data: bytes, *, source: str = "the import") -> list[ConversationExport]:
    """Parse and check a JSON export document; errors name the field that is wrong."""
    try:
        header = msgspec.json.decode(data, type=_Header)
    except msgspec.DecodeError as exc:
        raise _invalid(
            source, f"not a JSON object ({exc})", "export with `llf-host export --format json`"
        ) from None
    if header.format != FORMAT_NAME:
        raise _invalid(
            source,
            f'"format" is {header.format!r}, expected {FORMAT_NAME!r}',
            "only JSON files written by `llf-host export --format json` can be imported",
            field="format",
        )
    if header.version is None or header.version > FORMAT_VERSION or header.version < 1:
        raise _invalid(
            source,
            f'"version" is {header.version!r}; this host reads versions 1 to {FORMAT_VERSION}',
            "upgrade llf-host to import exports from newer versions",
            field="version",
        )
    try:
        document = msgspec.json.decode(data, type=_Document)
    except msgspec.ValidationError as exc:
        text = str(exc)
        field = text.rsplit("at `", 1)[-1].rstrip("`") if "at `" in text else "(document)"
        raise _invalid(
            source,
            text,
            "fix that field (the schema is in docs/exporters.md), or export the file again",
            field=field,
        ) from None
    return document.conversations


def parents_first(messages: list[StoredMessage]) -> list[StoredMessage]:
    """``messages`` reordered so every parent comes before its children (stable).

    Raises :class:`~llf_host.MemoryStoreError` for a parent that is not in the
    list or a cycle: such a tree cannot be stored.
    """
    by_id = {m.id: m for m in messages}
    placed: set[str] = set()
    ordered: list[StoredMessage] = []
    for message in messages:
        chain: list[StoredMessage] = []
        chain_ids: set[str] = set()
        current: StoredMessage | None = message
        while current is not None and current.id not in placed:
            if current.id in chain_ids:
                raise MemoryStoreError(
                    f"message {current.id!r} is its own ancestor (a parent cycle)",
                    hint="fix the parent_id values in the file; nothing was imported",
                    message_id=current.id,
                )
            chain.append(current)
            chain_ids.add(current.id)
            parent = current.parent_id
            if parent is not None and parent not in by_id:
                raise MemoryStoreError(
                    f"message {current.id!r} names parent {parent!r}, which is not in "
                    "the conversation",
                    hint="fix or remove its parent_id; nothing was imported",
                    message_id=current.id,
                    parent_id=parent,
                )
            current = by_id.get(parent) if parent is not None else None
        for item in reversed(chain):
            placed.add(item.id)
            ordered.append(item)
    return ordered
