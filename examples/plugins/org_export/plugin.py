"""org_export: conversations as Org mode files (``llf-host export --format org``)."""

from __future__ import annotations

from llf_host import hookimpl

from .org import OrgExporter


@hookimpl
def llf_exporters() -> OrgExporter:
    return OrgExporter()
