"""docs/protocol.md documents every protocol method (Datasette-style: docs cannot drift)."""

from __future__ import annotations

import re
from pathlib import Path

from llf_host._rpc.methods import load_all
from llf_host._rpc.registry import METHODS

DOC = Path(__file__).resolve().parents[2] / "docs" / "protocol.md"
#: Handled by the dispatcher itself rather than declared with @rpc_method.
LIFECYCLE = ("initialize", "shutdown", "exit", "$/cancelRequest")


def documented() -> set[str]:
    return set(re.findall(r"^### `([^`]+)`\s*$", DOC.read_text(encoding="utf-8"), re.MULTILINE))


def test_every_method_has_a_heading_in_protocol_md() -> None:
    load_all()
    names = {n for n in METHODS if not n.startswith("test/")}
    missing = sorted((names | set(LIFECYCLE)) - documented())
    assert not missing, (
        f"methods without a '### `name`' section in {DOC.name}: {', '.join(missing)} — "
        "document params, result, errors and an example exchange for each"
    )


def test_placeholder_sections_exist_for_the_features() -> None:
    text = DOC.read_text(encoding="utf-8")
    for heading in (
        "## tools/*",
        "## keys/*",
        "## conversations/* and memory/*",
        "## export/*",
        "## budget/* and routing",
    ):
        assert f"\n{heading}\n" in text
