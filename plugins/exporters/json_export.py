"""JSON: the lossless, versioned, re-importable format.

The document is ``{"format": "llf-host-export", "version": 1, ...,
"conversations": [...]}`` where each conversation is the memory contract's
``ConversationExport`` (the conversation and every message of its tree) in its
msgspec JSON form. The schema is in ``schema/llf-host-export-v1.schema.json``
and docs/exporters.md; ``llf-host export import`` reads it back.
"""

from __future__ import annotations

import time
from typing import Any

import msgspec

from llf_host import ConversationExport
from llf_host import __version__

from .base import BuiltinExporter
from .options import ResolvedOptions

FORMAT_NAME = "llf-host-export"
FORMAT_VERSION = 1


def export_document(
    conversations: list[ConversationExport], opts: ResolvedOptions
) -> dict[str, Any]:
    """The JSON document (as Python values) for ``conversations``."""
    return {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "generator": f"llf-host {__version__}",
        "exported_at": round(time.time(), 3),
        "options": opts.filters(),
        "conversations": msgspec.to_builtins(conversations),
    }


class JsonExporter(BuiltinExporter):
    """Lossless JSON (every branch, metadata, usage, timings, tool calls by default)."""

    format = "json"
    extension = "json"
    media_type = "application/json"
    description = "JSON: lossless and re-importable (llf-host-export v1)"
    lossless = True

    def render(self, conversations: list[ConversationExport], opts: ResolvedOptions) -> bytes:
        encoded = msgspec.json.encode(export_document(conversations, opts))
        if opts.indent:
            encoded = msgspec.json.format(encoded, indent=opts.indent)
        return encoded + b"\n"
