"""Exporting conversations through exporter plugins, and importing JSON exports back.

The host side of exporting: choose conversations from the memory backend (one,
the conversations a search finds, or every one), redact them, hand them to the
exporter plugin for the requested format, and return its bytes. Importing reads
the JSON format (``llf-host-export`` version 1, see docs/exporters.md), checks it
and stores each conversation through the backend's ``import_conversation``.

Every function takes the host (or a backend) explicitly; the CLI
(``llf-host export``) and the protocol (``export/*``) are thin layers over them.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING
from typing import Any
from typing import Final
from typing import final

import msgspec
from msgspec import structs

from ._errors import LLMError
from ._errors import NotAvailableError
from ._export_format import FORMAT_NAME
from ._export_format import FORMAT_VERSION
from ._export_format import decode_export
from ._export_format import parents_first
from ._guard import call_guarded
from ._memory_contract import ConversationExport
from ._memory_contract import MemoryBackend
from ._memory_contract import SearchQuery

if TYPE_CHECKING:
    from ._host import Host

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "ExportResult",
    "ImportResult",
    "ImportedConversation",
    "Progress",
    "Selection",
    "collect_conversations",
    "decode_export",
    "export_conversations",
    "import_exports",
    "list_formats",
    "memory_backend",
    "parents_first",
    "write_export_file",
]

log = logging.getLogger("llf.export")

#: Page size when walking every conversation or every search hit.
_PAGE: Final = 200
#: Most search hits looked at for ``--search`` (the backend's limit per page is 1000).
_MAX_SEARCH_HITS: Final = 10_000

#: Called with (done, total) as conversations are read or written.
Progress = Callable[[int, int], None]


@final
class Selection(msgspec.Struct, frozen=True, omit_defaults=True):
    """Which conversations to export: exactly one of the three ways."""

    conversation_id: str | None = None
    search: str | None = None
    all: bool = False

    def __post_init__(self) -> None:
        chosen = sum([self.conversation_id is not None, self.search is not None, self.all])
        if chosen != 1:
            raise ValueError(
                "choose exactly one of conversation_id, search or all "
                f"(got {chosen}): {msgspec.to_builtins(self)}"
            )

    def describe(self) -> str:
        """``conversation c1``, ``search "kubernetes"`` or ``every conversation``."""
        if self.conversation_id is not None:
            return f"conversation {self.conversation_id}"
        if self.search is not None:
            return f"conversations matching {self.search!r}"
        return "every conversation"


@final
class ExportResult(msgspec.Struct, omit_defaults=True):
    """What an exporter produced and what it covered."""

    format: str
    media_type: str
    extension: str
    content: bytes
    conversations: int
    messages: int
    plugin: str = ""

    @property
    def binary(self) -> bool:
        """True when the content is not UTF-8 text (PDF)."""
        return not (self.media_type.startswith("text/") or self.media_type.endswith("json"))


@final
class ImportedConversation(msgspec.Struct):
    """One stored conversation: its id in the file and its id in the backend."""

    source_id: str
    id: str
    title: str
    messages: int


@final
class ImportResult(msgspec.Struct):
    """Every conversation an import stored."""

    conversations: list[ImportedConversation]

    @property
    def messages(self) -> int:
        """Messages stored over all conversations."""
        return sum(c.messages for c in self.conversations)


# -- backend ------------------------------------------------------------------------------
async def memory_backend(host: Host) -> MemoryBackend:
    """The host's memory backend, opened once by the memory service."""
    from ._memory import memory_service

    return await memory_service(host).backend()


# -- export -------------------------------------------------------------------------------
def list_formats(host: Host) -> list[dict[str, Any]]:
    """Every export format the loaded exporter plugins offer, sorted by name."""
    formats = []
    for name in sorted(host.registry.exporters):
        entry = host.registry.exporters[name]
        exporter = entry.obj
        formats.append(
            {
                "format": name,
                "extension": exporter.extension or name,
                "media_type": exporter.media_type,
                "description": exporter.description,
                "plugin": entry.plugin,
            }
        )
    return formats


async def _conversation_ids(backend: MemoryBackend, selection: Selection) -> list[str]:
    if selection.conversation_id is not None:
        return [selection.conversation_id]
    ids: list[str] = []
    seen: set[str] = set()
    if selection.search is not None:
        offset = 0
        while offset < _MAX_SEARCH_HITS:
            hits = await backend.search(
                SearchQuery(text=selection.search, scope="messages", limit=_PAGE, offset=offset)
            )
            for hit in hits:
                if hit.conversation_id and hit.conversation_id not in seen:
                    seen.add(hit.conversation_id)
                    ids.append(hit.conversation_id)
            if len(hits) < _PAGE:
                break
            offset += _PAGE
        return ids
    offset = 0
    while True:
        page = await backend.list_conversations(limit=_PAGE, offset=offset)
        for conversation in page:
            if conversation.id not in seen:
                seen.add(conversation.id)
                ids.append(conversation.id)
        if len(page) < _PAGE:
            return ids
        offset += _PAGE


async def collect_conversations(
    backend: MemoryBackend, selection: Selection, *, on_progress: Progress | None = None
) -> list[ConversationExport]:
    """Read the selected conversations (each with its whole tree) from ``backend``."""
    ids = await _conversation_ids(backend, selection)
    exports: list[ConversationExport] = []
    for done, conversation_id in enumerate(ids, start=1):
        exports.append(await backend.export_conversation(conversation_id))
        if on_progress is not None:
            on_progress(done, len(ids))
    return exports


def _redact(host: Host, exports: list[ConversationExport]) -> list[ConversationExport]:
    redactor = host.services.get("redactor")
    if redactor is None:
        return exports
    return [redactor.redact(export) for export in exports]


async def export_conversations(
    host: Host,
    selection: Selection,
    fmt: str,
    options: dict[str, Any] | None = None,
    *,
    on_progress: Progress | None = None,
) -> ExportResult:
    """Export the selected conversations in format ``fmt`` (``md``, ``json``, ``html``...).

    Raises :class:`~llf_host.NotAvailableError` for an unknown format and
    :class:`~llf_host.ConversationNotFoundError` for an unknown conversation.
    """
    from ._memory import memory_service

    entry = host.registry.exporter(fmt)
    service = memory_service(host)
    backend = await service.backend()
    with service.guarded("export_conversation"):
        exports = await collect_conversations(backend, selection, on_progress=on_progress)
    if selection.search is not None and not exports:
        raise NotAvailableError(
            f"no conversation matches {selection.search!r}",
            hint="try other words, or `llf-host conversations search` to see what matches",
            search=selection.search,
        )
    exporter = entry.obj
    content = await call_guarded(
        entry.plugin,
        f"{type(exporter).__name__}.export()",
        exporter.export,
        _redact(host, exports),
        dict(options or {}),
    )
    if not isinstance(content, bytes | bytearray):
        raise LLMError(
            f"exporter {fmt!r} of plugin {entry.plugin!r} returned "
            f"{type(content).__name__}, not bytes",
            hint=f"this is a bug in plugin {entry.plugin!r}; update or disable it",
            plugin=entry.plugin,
            format=fmt,
        )
    return ExportResult(
        format=fmt,
        media_type=exporter.media_type,
        extension=exporter.extension or fmt,
        content=bytes(content),
        conversations=len(exports),
        messages=sum(len(e.messages) for e in exports),
        plugin=entry.plugin,
    )


def write_export_file(path: Path, content: bytes) -> None:
    """Write ``content`` to ``path`` atomically, readable only by the user (0600).

    Exports hold private conversations; a crash leaves the old file or none,
    never half of one.
    """
    path = path.expanduser()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(content)
                handle.flush()
                os.fsync(handle.fileno())
            # mkstemp already created the file 0600.
            Path(tmp).replace(path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise LLMError(
            f"cannot write the export to {path}: {exc.strerror or exc}",
            hint="choose a folder you can write to",
            path=str(path),
        ) from None


# -- import -------------------------------------------------------------------------------
async def import_exports(
    host: Host,
    exports: list[ConversationExport],
    *,
    on_progress: Progress | None = None,
) -> ImportResult:
    """Store every conversation of ``exports`` through the host's memory backend.

    The backend gives stored conversations and messages new ids; the tree,
    current leaf, timestamps, usage, timings, cost, tool calls and metadata are
    kept, and the conversation's ``metadata["imported_from"]`` holds its id in the
    file. Every conversation is checked before any is stored; each is stored
    whole or not at all. ``on_progress`` gets (messages done, messages in all).
    """
    from ._memory_import import import_conversations

    checked = [
        structs.replace(export, messages=parents_first(export.messages)) for export in exports
    ]
    total = sum(len(export.messages) for export in checked)

    def progress(done: int) -> None:
        if on_progress is not None:
            on_progress(done, total)

    stored = await import_conversations(host, checked, on_progress=progress)
    return ImportResult(
        conversations=[
            ImportedConversation(
                source_id=export.conversation.id,
                id=conversation.id,
                title=conversation.title,
                messages=len(export.messages),
            )
            for export, conversation in zip(checked, stored, strict=True)
        ]
    )
