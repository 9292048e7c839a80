"""``export/*``: conversations out through exporter plugins, JSON exports back in."""

from __future__ import annotations

import base64
import binascii
from pathlib import Path
from typing import Any
from typing import Literal

import msgspec

from ..._export import ImportResult
from ..._export import Selection
from ..._export import export_conversations
from ..._export import import_exports
from ..._export import list_formats
from ..._export import write_export_file
from ..dispatcher import InvalidParams
from ..dispatcher import plugin_slot
from ..registry import NoParams
from ..registry import RequestContext
from ..registry import rpc_method

__all__ = ["ExportParams", "ImportParams", "export_conversation", "export_formats", "import_"]


class ExportParams(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """Params of ``export/conversation``: one of ``conversation_id``, ``search``, ``all``."""

    format: str = "md"
    conversation_id: str | None = None
    search: str | None = None
    all: bool = False
    options: dict[str, Any] = msgspec.field(default_factory=dict)
    #: Write the export to this absolute path instead of returning it.
    path: str | None = None


class ImportParams(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """Params of ``export/import``: the JSON export as ``content``, or a ``path`` to it."""

    content: str | None = None
    encoding: Literal["utf-8", "base64"] = "utf-8"
    path: str | None = None


def _absolute(raw: str, field: str) -> Path:
    path = Path(raw).expanduser()
    if not path.is_absolute():
        raise InvalidParams(
            field,
            f"{raw!r} is not an absolute path",
            "paths are resolved by the host, whose working directory is not the client's; "
            "send an absolute path",
        )
    return path


@rpc_method("export/formats", params=NoParams)
async def export_formats(ctx: RequestContext, params: NoParams) -> dict[str, Any]:
    """The export formats offered by the loaded exporter plugins."""
    return {"formats": list_formats(ctx.host)}


@rpc_method("export/conversation", params=ExportParams)
async def export_conversation(ctx: RequestContext, params: ExportParams) -> dict[str, Any]:
    """Export one conversation, a search result or everything in one format."""
    try:
        selection = Selection(
            conversation_id=params.conversation_id, search=params.search, all=params.all
        )
    except ValueError:
        raise InvalidParams(
            "conversation_id",
            "choose exactly one of conversation_id, search or all",
            'send {"conversation_id": "..."}, {"search": "words"} or {"all": true}',
        ) from None
    target = _absolute(params.path, "path") if params.path is not None else None
    plugin = ctx.host.registry.exporter(params.format).plugin
    async with plugin_slot(ctx.host, plugin):
        result = await export_conversations(ctx.host, selection, params.format, params.options)
    summary: dict[str, Any] = {
        "format": result.format,
        "media_type": result.media_type,
        "extension": result.extension,
        "conversations": result.conversations,
        "messages": result.messages,
        "bytes": len(result.content),
    }
    if target is not None:
        write_export_file(target, result.content)
        return {**summary, "path": str(target)}
    if result.binary:
        return {
            **summary,
            "encoding": "base64",
            "content": base64.b64encode(result.content).decode("ascii"),
        }
    return {**summary, "encoding": "utf-8", "content": result.content.decode("utf-8")}


def _import_result(result: ImportResult) -> dict[str, Any]:
    return {
        "conversations": msgspec.to_builtins(result.conversations),
        "messages": result.messages,
    }


@rpc_method("export/import", params=ImportParams)
async def import_(ctx: RequestContext, params: ImportParams) -> dict[str, Any]:
    """Import conversations into the memory backend: a JSON export (``llf-host-export``)
    or any shape ``llf-host conversations import`` reads (docs/memory.md)."""
    if (params.content is None) == (params.path is None):
        raise InvalidParams(
            "content",
            "send exactly one of content or path",
            'send {"content": "<the JSON export>"} or {"path": "/absolute/file.json"}',
        )
    from ..._memory_import import decode_import
    from ..._memory_import import read_import_file

    if params.path is not None:
        exports = read_import_file(_absolute(params.path, "path"))
    else:
        assert params.content is not None
        if params.encoding == "base64":
            try:
                data = base64.b64decode(params.content, validate=True)
            except (binascii.Error, ValueError):
                raise InvalidParams(
                    "content", "is not valid base64", 'send the text with "encoding": "utf-8"'
                ) from None
        else:
            data = params.content.encode("utf-8")
        exports = decode_import(data, Path("content"))
    return _import_result(await import_exports(ctx.host, exports))
