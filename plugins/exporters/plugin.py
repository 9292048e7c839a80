"""Built-in exporters: Markdown, JSON, HTML, plain text and (with fpdf2) PDF.

Each format is a small module; this entry module only hands them to the host.
The redactor is looked up from the host's services at start-up, so every
export passes through it when the key store is in use.
"""

from __future__ import annotations

import importlib.util
from typing import Any

from llf_host import Exporter
from llf_host import hookimpl

from .html_export import HtmlExporter
from .json_export import JsonExporter
from .markdown_export import MarkdownExporter
from .redaction import RedactionRef
from .text_export import TextExporter

#: Shared by every exporter of this load; bound to the host in ``llf_startup``.
redaction = RedactionRef()


def pdf_available() -> bool:
    """True when the optional PDF dependency (fpdf2) is installed."""
    return importlib.util.find_spec("fpdf") is not None


@hookimpl
def llf_exporters() -> list[Exporter]:
    exporters: list[Exporter] = [
        MarkdownExporter(redaction),
        JsonExporter(redaction),
        HtmlExporter(redaction),
        TextExporter(redaction),
    ]
    if pdf_available():
        from .pdf_export import PdfExporter

        exporters.append(PdfExporter(redaction))
    return exporters


@hookimpl
def llf_startup(host: Any) -> None:
    redaction.bind(host.services)


@hookimpl
def llf_shutdown() -> None:
    redaction.unbind()
