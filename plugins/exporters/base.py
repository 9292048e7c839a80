"""What every built-in exporter does before it renders: options, redaction, selection."""

from __future__ import annotations

import abc
import asyncio
from typing import Any

from llf_host import ConversationExport
from llf_host import Exporter

from .options import ResolvedOptions
from .options import resolve_options
from .redaction import RedactionRef
from .select import select


class BuiltinExporter(Exporter):
    """Validates options, redacts, selects, then renders off the event loop."""

    #: JSON keeps everything by default; readable formats show the current branch.
    lossless: bool = False
    #: Text formats get a last redaction pass over the rendered output.
    text_output: bool = True

    def __init__(self, redaction: RedactionRef) -> None:
        self.redaction = redaction

    async def export(
        self, conversations: list[ConversationExport], options: dict[str, Any]
    ) -> bytes:
        """Render ``conversations`` with ``options`` (see docs/exporters.md)."""
        opts = resolve_options(options, lossless=self.lossless)
        redacted = [self.redaction.value(c) for c in conversations]
        chosen = [s for c in redacted if (s := select(c, opts)) is not None]
        # Rendering a large export is CPU work: keep the host's loop responsive.
        output = await asyncio.to_thread(self.render, chosen, opts)
        if self.text_output:
            return self.redaction.text(output.decode("utf-8")).encode("utf-8")
        return output

    @abc.abstractmethod
    def render(self, conversations: list[ConversationExport], opts: ResolvedOptions) -> bytes:
        """Turn already selected and redacted conversations into this format."""
