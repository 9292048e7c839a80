"""Writing small plugins to disk for tests, the way users write them."""

from __future__ import annotations

import textwrap
from pathlib import Path


def make_plugin(
    root: Path,
    name: str,
    body: str,
    *,
    manifest_extra: str = "",
    extra_files: dict[str, str] | None = None,
) -> Path:
    """Create ``root/name`` with a plugin.toml and a plugin.py holding ``body``."""
    folder = root / name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "plugin.toml").write_text(
        f'[plugin]\nname = "{name}"\nversion = "1.0"\n{textwrap.dedent(manifest_extra)}'
    )
    (folder / "plugin.py").write_text(textwrap.dedent(body))
    for rel, text in (extra_files or {}).items():
        (folder / rel).write_text(textwrap.dedent(text))
    return folder


PROVIDER = """
from llf_host import hookimpl
from llf_host.testing import MockProvider

@hookimpl
def llf_providers():
    return MockProvider("{prefix}")
"""
