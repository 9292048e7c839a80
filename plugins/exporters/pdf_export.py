"""PDF, when the optional dependency fpdf2 is installed (``pip install fpdf2``).

fpdf2 is pure Python (with Pillow and fontTools wheels): no system libraries.
Text is laid out simply (headers, wrapped paragraphs, monospaced code blocks);
the HTML export is the richer option for reading on screen.
"""

from __future__ import annotations

import logging
import re

from llf_host import ConfigError
from llf_host import ConversationExport

from .base import BuiltinExporter
from .blocks import Code
from .blocks import normalize_newlines
from .blocks import split_blocks
from .labels import conversation_facts
from .labels import conversation_title
from .labels import message_header
from .labels import metadata_json
from .labels import tool_arguments
from .labels import usage_line
from .options import ResolvedOptions
from .pdf_fonts import FontSet
from .pdf_fonts import find_fonts
from .select import reading_order

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


class _Writer:
    """Lays text out on pages with the chosen fonts."""

    def __init__(self, fonts: FontSet, title: str) -> None:
        from fpdf import FPDF

        self.pdf = FPDF(format="A4", unit="mm")
        self.pdf.set_margins(15, 15, 15)
        self.pdf.set_auto_page_break(auto=True, margin=15)
        self.pdf.set_title(title)
        self.pdf.set_creator("llf-host exporters")
        self.unicode = fonts.unicode
        if fonts.regular is not None:
            self.pdf.add_font("body", "", str(fonts.regular))
            self.pdf.add_font("body", "B", str(fonts.bold or fonts.regular))
            self.pdf.add_font("mono", "", str(fonts.mono or fonts.regular))
            self.body, self.mono = "body", "mono"
        else:
            self.body, self.mono = "helvetica", "courier"
        self.pdf.add_page()

    def clean(self, text: str) -> str:
        text = _CONTROL.sub("\ufffd", normalize_newlines(text).replace("\t", "    "))
        if not self.unicode:
            text = text.replace("\ufffd", "?").encode("latin-1", "replace").decode("latin-1")
        return text

    def para(
        self,
        text: str,
        *,
        size: float = 10,
        bold: bool = False,
        mono: bool = False,
        grey: bool = False,
        fill: bool = False,
    ) -> None:
        from fpdf.enums import WrapMode

        pdf = self.pdf
        pdf.set_font(self.mono if mono else self.body, "B" if bold and not mono else "", size)
        pdf.set_text_color(100 if grey else 20)
        if fill:
            pdf.set_fill_color(243, 244, 246)
        pdf.multi_cell(
            0,
            size * 0.5,
            self.clean(text),
            fill=fill,
            new_x="LMARGIN",
            new_y="NEXT",
            wrapmode=WrapMode.CHAR if mono else WrapMode.WORD,
        )
        pdf.ln(1.5)

    def segments(self, text: str | None) -> None:
        for segment in split_blocks(text):
            if isinstance(segment, Code):
                self.para(segment.text or " ", size=8.5, mono=True, fill=True)
            elif segment.text.strip():
                self.para(segment.text.strip("\n"))

    def output(self) -> bytes:
        return bytes(self.pdf.output())


def render_pdf(conversations: list[ConversationExport], opts: ResolvedOptions) -> bytes:
    """The PDF bytes of a whole export."""
    fonts = find_fonts(opts.font)
    if opts.font and fonts.regular is None:
        raise ConfigError(
            f"export option 'font': no font file at {opts.font}",
            hint="give the path of a .ttf file, or leave 'font' out to use a system font",
            option="font",
        )
    title = opts.title or (
        conversation_title(conversations[0].conversation, opts) if conversations else "Export"
    )
    writer = _Writer(fonts, title)
    for index, export in enumerate(conversations):
        if index:
            writer.pdf.add_page()
        views = reading_order(export)
        writer.para(conversation_title(export.conversation, opts), size=16, bold=True)
        for label, value in conversation_facts(export.conversation, len(views), opts):
            writer.para(f"{label}: {value}", size=8.5, grey=True)
        for view in views:
            stored = view.stored
            writer.pdf.ln(2)
            writer.para(message_header(view, opts), size=10, bold=True)
            usage = usage_line(stored)
            if usage:
                writer.para(usage, size=8, grey=True)
            if stored.message.reasoning:
                writer.para("reasoning:", size=8.5, grey=True)
                writer.segments(stored.message.reasoning)
            writer.segments(stored.message.content)
            for call in stored.message.tool_calls or []:
                writer.para(f"tool call {call.function.name} ({call.id})", size=9, bold=True)
                writer.para(tool_arguments(call), size=8.5, mono=True, fill=True)
            if opts.include_metadata and stored.metadata:
                writer.para("metadata:", size=8.5, grey=True)
                writer.para(metadata_json(stored.metadata), size=8, mono=True, fill=True)
    return writer.output()


class PdfExporter(BuiltinExporter):
    """PDF via fpdf2 (optional dependency)."""

    format = "pdf"
    extension = "pdf"
    media_type = "application/pdf"
    description = "PDF (needs fpdf2; Unicode text with a TrueType font such as DejaVu)"
    text_output = False

    def render(self, conversations: list[ConversationExport], opts: ResolvedOptions) -> bytes:
        # fontTools logs every table it subsets at INFO; that is noise in the host's log.
        logging.getLogger("fontTools").setLevel(logging.WARNING)
        return render_pdf(conversations, opts)
