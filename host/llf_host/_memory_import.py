"""Reading conversation files to import, and importing them through the memory service.

Accepted shapes (detected from the content; ``.jsonl``/``.ndjson`` files are
read line by line):

- this host's JSON export (docs/exporters.md): ``{"format": "llf-host-export",
  "version": 1, "conversations": [{"conversation": {...}, "messages": [...]}]}``
  (one :class:`~llf_host.ConversationExport` each; ``format`` may be left out);
- one such ``{"conversation": ..., "messages": ...}`` object;
- the older simple format: an array of ``{"role", "content", "timestamp"}``
  (one linear conversation, titled after the file), or ``{"title": ...,
  "messages": [...]}``;
- JSON Lines: one simple message per line (one conversation), or one
  conversation export per line.

Timestamps may be epoch seconds (or milliseconds) or ISO 8601 text. Unknown
keys of a simple message are kept in its ``metadata``.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING
from typing import Any
from typing import get_args

import msgspec
from msgspec import structs

from ._errors import MemoryStoreError
from ._memory import memory_service
from ._memory_contract import Conversation
from ._memory_contract import ConversationExport
from ._memory_contract import StoredMessage
from ._types import Message
from ._types import Role
from ._types import ToolCall

if TYPE_CHECKING:
    from ._host import Host

__all__ = ["EXPORT_VERSION", "decode_import", "import_conversations", "read_import_file"]

#: The version of this host's JSON export format that can be imported.
EXPORT_VERSION = 1

_ROLES = frozenset(get_args(Role))
_ROLE_ALIASES = {"human": "user", "ai": "assistant", "bot": "assistant", "model": "assistant"}
_KNOWN_KEYS = frozenset(
    {"role", "content", "timestamp", "created_at", "model", "name", "tool_calls", "tool_call_id"}
)


def _bad(path: Path, where: str, problem: str, **data: Any) -> MemoryStoreError:
    return MemoryStoreError(
        f"{path}: {where}: {problem}",
        hint="fix the file (see docs/memory.md, 'Import formats'); nothing was imported",
        file=str(path),
        where=where,
        **data,
    )


def _timestamp(value: Any, path: Path, where: str) -> float:
    if value is None:
        return time.time()
    if isinstance(value, bool):
        raise _bad(path, where, f"timestamp {value!r} is not a time")
    if isinstance(value, int | float):
        seconds = float(value)
        return seconds / 1000 if seconds > 1e11 else seconds
    if isinstance(value, str):
        try:
            parsed = dt.datetime.fromisoformat(value.strip())
        except ValueError:
            raise _bad(
                path, where, f"timestamp {value!r} is neither epoch seconds nor ISO 8601"
            ) from None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=dt.UTC)
        return parsed.timestamp()
    raise _bad(path, where, f"timestamp {value!r} is not a time")


def _content(value: Any, path: Path, where: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, list):
        # OpenAI content parts: keep the text ones.
        texts = [p.get("text", "") for p in value if isinstance(p, dict) and "text" in p]
        return "".join(str(t) for t in texts)
    raise _bad(path, where, f"content must be text, got {type(value).__name__}")


def _simple_message(raw: Any, path: Path, where: str, parent: str | None) -> StoredMessage:
    if not isinstance(raw, dict):
        raise _bad(path, where, f"expected an object with role and content, got {raw!r:.60}")
    role = _ROLE_ALIASES.get(str(raw.get("role", "")).lower(), str(raw.get("role", "")).lower())
    if role not in _ROLES:
        raise _bad(
            path,
            where,
            f"role {raw.get('role')!r} is not one of {', '.join(sorted(_ROLES))}",
            field="role",
        )
    tool_calls = None
    if raw.get("tool_calls"):
        try:
            tool_calls = msgspec.convert(raw["tool_calls"], list[ToolCall])
        except msgspec.ValidationError as exc:
            raise _bad(path, where, f"tool_calls: {exc}", field="tool_calls") from None
    return StoredMessage(
        id=where,
        conversation_id="",
        parent_id=parent,
        message=Message(
            role=role,  # type: ignore[arg-type]
            content=_content(raw.get("content"), path, where),
            name=raw.get("name"),
            tool_calls=tool_calls,
            tool_call_id=raw.get("tool_call_id"),
        ),
        model=raw.get("model"),
        created_at=_timestamp(raw.get("timestamp", raw.get("created_at")), path, where),
        metadata={k: v for k, v in raw.items() if k not in _KNOWN_KEYS},
    )


def _simple_conversation(items: list[Any], path: Path, title: str) -> ConversationExport:
    messages: list[StoredMessage] = []
    parent: str | None = None
    for index, raw in enumerate(items):
        stored = _simple_message(raw, path, f"message {index + 1}", parent)
        messages.append(stored)
        parent = stored.id
    created = messages[0].created_at if messages else time.time()
    updated = messages[-1].created_at if messages else created
    conversation = Conversation(
        id=str(path),
        title=title,
        current_leaf_id=parent,
        created_at=created,
        updated_at=updated,
        metadata={"import_format": "messages"},
    )
    return ConversationExport(conversation, messages)


def _export(raw: Any, path: Path, where: str) -> ConversationExport:
    try:
        return msgspec.convert(raw, ConversationExport)
    except msgspec.ValidationError as exc:
        raise _bad(path, where, f"not a conversation export: {exc}") from None


def _from_document(doc: Any, path: Path) -> list[ConversationExport]:
    if isinstance(doc, list):
        return [_simple_conversation(doc, path, path.stem)]
    if not isinstance(doc, dict):
        raise _bad(path, "top level", "expected a JSON object or array")
    if "conversations" in doc:
        version = doc.get("version", EXPORT_VERSION)
        if version != EXPORT_VERSION:
            raise _bad(
                path,
                "version",
                f"export format version {version!r} is not supported (this host reads "
                f"{EXPORT_VERSION})",
                field="version",
            )
        items = doc["conversations"]
        if not isinstance(items, list):
            raise _bad(path, "conversations", "must be an array")
        return [_export(item, path, f"conversation {i + 1}") for i, item in enumerate(items)]
    if "conversation" in doc:
        return [_export(doc, path, "top level")]
    if isinstance(doc.get("messages"), list):
        return [_simple_conversation(doc["messages"], path, str(doc.get("title") or path.stem))]
    raise _bad(
        path,
        "top level",
        "not a recognised format (expected conversations, conversation+messages, "
        "or an array of messages)",
    )


def _from_lines(data: bytes, path: Path) -> list[ConversationExport]:
    records: list[Any] = []
    for number, line in enumerate(data.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            records.append(msgspec.json.decode(line))
        except msgspec.DecodeError as exc:
            raise _bad(path, f"line {number}", f"not valid JSON: {exc}") from None
    if records and all(isinstance(r, dict) and "conversation" in r for r in records):
        return [_export(r, path, f"line {i + 1}") for i, r in enumerate(records)]
    return [_simple_conversation(records, path, path.stem)]


def read_import_file(path: Path) -> list[ConversationExport]:
    """Every conversation in ``path``, validated; raises MemoryStoreError naming the spot."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise MemoryStoreError(
            f"cannot read {path}: {exc.strerror or exc}",
            hint="check the path and its permissions",
            file=str(path),
        ) from None
    return decode_import(data, path)


def decode_import(data: bytes, source: Path) -> list[ConversationExport]:
    """Every conversation in ``data`` (any accepted shape, see the module docstring).

    ``source`` names the data in errors and titles untitled conversations; a
    ``.jsonl``/``.ndjson`` suffix means JSON Lines.
    """
    if source.suffix.lower() in (".jsonl", ".ndjson"):
        return _from_lines(data, source)
    try:
        doc = msgspec.json.decode(data)
    except msgspec.DecodeError as exc:
        if b"\n{" in data.strip():
            return _from_lines(data, source)
        raise _bad(source, "top level", f"not valid JSON: {exc}") from None
    if isinstance(doc, dict) and "format" in doc:
        # The exporters' own document ({"format": "llf-host-export", ...}): their reader.
        from ._export import decode_export

        return decode_export(data, source=str(source))
    return _from_document(doc, source)


async def import_conversations(
    host: Host,
    exports: Iterable[ConversationExport],
    on_progress: Callable[[int], None] | None = None,
) -> list[Conversation]:
    """Store each export as a new conversation; ``on_progress`` gets messages done so far."""
    service = memory_service(host)
    backend = await service.backend()
    done = 0
    stored: list[Conversation] = []
    from ._export import parents_first

    for raw in exports:
        export = structs.replace(raw, messages=parents_first(raw.messages))

        def progress(count: int, base: int = done) -> None:
            if on_progress is not None:
                on_progress(base + count)

        with service.guarded("import_conversation"):
            stored.append(await backend.import_conversation(export, on_progress=progress))
        done += len(export.messages)
        if on_progress is not None:
            on_progress(done)
    host.audit(
        "memory.import",
        plugin=service.plugin,
        conversations=len(stored),
        messages=done,
    )
    return stored
