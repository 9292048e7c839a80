"""Importing a plugin's code into fresh module objects, and forgetting it again.

Each load of a drop-in plugin gets its own synthetic package name
(``_llf_plugins.<name>_<generation>``) whose ``__path__`` is the plugin folder,
so the entry module and its siblings (imported relatively: ``from . import
helpers``) are new module objects every time and an old version can be dropped
from ``sys.modules`` as a unit.
"""

from __future__ import annotations

import importlib
import importlib.util
import itertools
import sys
import traceback
import types
from pathlib import Path
from typing import final

from ._errors import PluginError
from ._manifest import Manifest

__all__ = [
    "ImportedPlugin",
    "find_module_file",
    "import_failure",
    "import_plugin",
    "module_relative_name",
    "unimport",
]

ROOT_PACKAGE = "_llf_plugins"
_generation = itertools.count(1)


@final
class ImportedPlugin:
    """The modules created by one load of a plugin."""

    def __init__(self, module: types.ModuleType, package: str | None) -> None:
        #: The entry module, which holds the hook implementations.
        self.module = module
        #: The synthetic package name, or None for entry-point plugins.
        self.package = package

    def module_names(self) -> list[str]:
        """Every ``sys.modules`` key that belongs to this load."""
        if self.package is None:
            return []
        prefix = self.package + "."
        return [n for n in sys.modules if n == self.package or n.startswith(prefix)]


def _ensure_root() -> None:
    if ROOT_PACKAGE not in sys.modules:
        root = types.ModuleType(ROOT_PACKAGE, "Namespace for drop-in plugins loaded by llf-host.")
        root.__path__ = []
        sys.modules[ROOT_PACKAGE] = root


def _error_location(exc: BaseException, root: Path) -> tuple[str | None, int | None]:
    if isinstance(exc, SyntaxError) and exc.filename:
        return exc.filename, exc.lineno
    frames = traceback.extract_tb(exc.__traceback__)
    for frame in reversed(frames):
        try:
            if Path(frame.filename).resolve().is_relative_to(root.resolve()):
                return frame.filename, frame.lineno
        except (OSError, ValueError):
            continue
    return None, None


def import_failure(manifest: Manifest, exc: BaseException) -> PluginError:
    """A PluginError naming the plugin, file, line and reason of an import failure."""
    file, line = _error_location(exc, manifest.root)
    where = f"{file}:{line}" if file and line else (file or str(manifest.root))
    reason = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, SyntaxError):
        reason = f"SyntaxError: {exc.msg}"
    hint = "fix the error shown; the host keeps running without this plugin"
    if isinstance(exc, ModuleNotFoundError):
        hint = (
            f"install {exc.name!r} in the host's environment, or import it inside the function "
            "that needs it; sibling modules are imported relatively (from . import x)"
        )
    return PluginError(
        f"plugin {manifest.name!r} failed to import at {where}: {reason}",
        hint=hint,
        plugin=manifest.name,
        file=file,
        line=line,
        reason=reason,
    )


def import_plugin(manifest: Manifest) -> ImportedPlugin:
    """Import a drop-in plugin (folder or single file) into fresh modules.

    Any exception from the plugin's import-time code (``SystemExit`` and
    ``KeyboardInterrupt`` included) becomes a :class:`PluginError`; partial modules
    are removed from ``sys.modules``.
    """
    _ensure_root()
    package = f"{ROOT_PACKAGE}.{manifest.name.replace('-', '_')}_{next(_generation)}"
    pkg = types.ModuleType(package, f"llf-host plugin {manifest.name}")
    pkg.__path__ = [str(manifest.root)]
    pkg.__package__ = package
    pkg.__file__ = None
    sys.modules[package] = pkg
    imported = ImportedPlugin(pkg, package)
    try:
        module = importlib.import_module(f"{package}.{manifest.entry}")
    except BaseException as exc:
        unimport(imported)
        if isinstance(exc, KeyboardInterrupt):
            raise
        raise import_failure(manifest, exc) from None
    imported.module = module
    return imported


def unimport(imported: ImportedPlugin) -> None:
    """Drop every module of one plugin load from ``sys.modules``."""
    for name in imported.module_names():
        sys.modules.pop(name, None)
    importlib.invalidate_caches()


def module_relative_name(module_name: str) -> tuple[str, str | None]:
    """Split ``_llf_plugins.calc_3.tools`` into ``("tools", "_llf_plugins.calc_3")``.

    Names outside the synthetic namespace are returned unchanged with ``None``.
    """
    if module_name.startswith(ROOT_PACKAGE + "."):
        parts = module_name.split(".")
        if len(parts) >= 3:
            return ".".join(parts[2:]), ".".join(parts[:2])
    return module_name, None


def find_module_file(package: str, relative: str) -> Path | None:
    """The source file of ``package.relative`` if it is loaded."""
    mod = sys.modules.get(f"{package}.{relative}")
    file = getattr(mod, "__file__", None)
    return Path(file) if file else None
