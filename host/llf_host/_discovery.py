"""Finding plugins: drop-in folders, single files, built-ins and entry points.

Discovery only reads manifests; it imports nothing. A candidate whose manifest
is invalid is still returned (with its error) so ``plugins list`` can show it.
"""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path
from typing import TYPE_CHECKING
from typing import final

from ._errors import ManifestError
from ._manifest import Manifest
from ._manifest import PluginSource
from ._manifest import manifest_for_module
from ._manifest import parse_manifest

if TYPE_CHECKING:
    import importlib.metadata

__all__ = [
    "ENTRY_POINT_GROUP",
    "Candidate",
    "builtin_plugins_dir",
    "discover_dir",
    "discover_entry_points",
]

log = logging.getLogger("llf.discovery")

#: Entry-point group pip-installed plugins register under.
ENTRY_POINT_GROUP = "llf_host.plugins"

_IGNORED_PREFIXES = (".", "_")


@final
class Candidate:
    """A plugin found on disk or as an entry point, not yet imported."""

    def __init__(
        self,
        *,
        location: Path | str,
        source: PluginSource,
        manifest: Manifest | None = None,
        error: ManifestError | None = None,
        entry_point: importlib.metadata.EntryPoint | None = None,
        name_hint: str = "",
    ) -> None:
        self.location = location
        self.source = source
        self.manifest = manifest
        self.error = error
        self.entry_point = entry_point
        self.name = manifest.name if manifest else name_hint

    def __repr__(self) -> str:
        state = "ok" if self.error is None else "invalid"
        return f"<Candidate {self.name} {self.source} {state} at {self.location}>"


def builtin_plugins_dir() -> Path:
    """The folder holding the built-in plugins (``plugins/`` in the source tree)."""
    spec = importlib.util.find_spec("llf_host.builtin_plugins")
    if spec is not None and spec.submodule_search_locations:
        return Path(next(iter(spec.submodule_search_locations)))
    return Path(__file__).resolve().parent.parent.parent / "plugins"


def _plugin_name_hint(path: Path) -> str:
    return path.stem.lower().replace(".", "_")


def candidate_for_path(path: Path, source: PluginSource) -> Candidate | None:
    """The plugin at ``path`` (a folder with plugin.toml, or a ``.py`` file), if any."""
    try:
        if path.is_dir():
            manifest_path = path / "plugin.toml"
            if not manifest_path.is_file():
                return None
            try:
                return Candidate(
                    location=path,
                    source=source,
                    manifest=parse_manifest(manifest_path, source=source),
                )
            except ManifestError as exc:
                return Candidate(location=path, source=source, error=exc, name_hint=path.name)
        if path.suffix == ".py" and path.is_file():
            try:
                return Candidate(
                    location=path, source=source, manifest=manifest_for_module(path, source=source)
                )
            except ManifestError as exc:
                return Candidate(
                    location=path, source=source, error=exc, name_hint=_plugin_name_hint(path)
                )
    except OSError as exc:
        err = ManifestError(
            f"{path}: cannot read the plugin: {exc}",
            hint="check the folder's permissions",
            file=str(path),
        )
        return Candidate(location=path, source=source, error=err, name_hint=path.name)
    return None


def discover_dir(directory: Path, source: PluginSource) -> list[Candidate]:
    """Every plugin in ``directory``, sorted by name. A missing folder has none."""
    if not directory.is_dir():
        return []
    found: list[Candidate] = []
    try:
        entries = sorted(directory.iterdir())
    except OSError as exc:
        log.warning("cannot list plugins folder %s: %s", directory, exc)
        return []
    for entry in entries:
        if entry.name.startswith(_IGNORED_PREFIXES) or entry.name == "__pycache__":
            continue
        candidate = candidate_for_path(entry, source)
        if candidate is not None:
            found.append(candidate)
    return found


def discover_entry_points() -> list[Candidate]:
    """Plugins installed with pip that declare the ``llf_host.plugins`` entry point."""
    # Imported here: importlib.metadata costs ~10 ms (email, zipfile...) at start-up.
    import importlib.metadata

    found: list[Candidate] = []
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        found.append(
            Candidate(
                location=ep.value,
                source="entrypoint",
                entry_point=ep,
                name_hint=ep.name,
            )
        )
    return sorted(found, key=lambda c: c.name)
