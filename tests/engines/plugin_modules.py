"""Importing a drop-in plugin's helper modules directly, for unit tests.

Drop-in plugins are folders, not packages on ``sys.path``; the host imports them
under a synthetic package. Unit tests of their pure modules do the same through
the host's own importer, so relative imports inside the plugin work.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import ModuleType

from llf_host._importer import import_plugin
from llf_host._manifest import parse_manifest

_PACKAGES: dict[Path, str] = {}


def load_plugin_module(plugin_dir: Path, module: str) -> ModuleType:
    """The plugin's module ``module`` (``"stops"``, ``"engine"``...), imported once."""
    package = _PACKAGES.get(plugin_dir)
    if package is None or package not in sys.modules:
        manifest = parse_manifest(plugin_dir / "plugin.toml", source="test")
        imported = import_plugin(manifest)
        assert imported.package is not None
        package = imported.package
        _PACKAGES[plugin_dir] = package
    return importlib.import_module(f"{package}.{module}")
