"""docs/tools.md lists exactly the built-in tools the registry holds."""

from __future__ import annotations

from llf_host._tools_doc import DOC_PATH
from llf_host._tools_doc import catalogue
from llf_host._tools_doc import render
from llf_host._tools_doc import update_document


async def test_the_catalogue_in_docs_matches_the_registry():
    tools = await catalogue()
    assert {t["name"] for t in tools} >= {"read_file", "list_dir", "calculate", "current_time"}
    current = DOC_PATH.read_text(encoding="utf-8")
    assert update_document(current, render(tools)) == current, (
        "docs/tools.md is out of date: run python -m llf_host._tools_doc --write"
    )
