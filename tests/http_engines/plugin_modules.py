"""The plugin's own modules, for unit tests of its pure parts.

The plugin is a drop-in folder, not a package: import it the way the host does
(under a synthetic package, so its relative imports work), once per session.
Importing it as ``llf_host.builtin_plugins.openai_compat`` instead would add a
public-looking attribute to ``llf_host``.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import ModuleType

from llf_host._importer import import_plugin
from llf_host._manifest import parse_manifest

PLUGIN_DIR = Path(__file__).resolve().parents[2] / "plugins" / "openai_compat"
_package: list[str] = []


def plugin_module(name: str) -> ModuleType:
    """``plugins/openai_compat/<name>.py`` as a module (``"sse"``, ``"engine"``...)."""
    if not _package or _package[0] not in sys.modules:
        imported = import_plugin(parse_manifest(PLUGIN_DIR / "plugin.toml", source="test"))
        assert imported.package is not None
        _package[:] = [imported.package]
    return importlib.import_module(f"{_package[0]}.{name}")
