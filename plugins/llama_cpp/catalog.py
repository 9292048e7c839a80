"""Which GGUF models the provider can serve, and where their files are.

Three sources, in order (a name taken by an earlier source wins):

1. ``[plugins.llama_cpp.models]``: explicit names with a path and per-model settings;
2. ``model_dirs``: every ``*.gguf`` below those folders (four levels deep), named
   after the file (split models by their first part; ``mmproj`` projectors skipped);
3. the embedded default model, when its package is installed.

``default`` is an alias: ``default_model`` from the config, else the embedded
model, else the first configured one.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Literal
from typing import final

from llf_host import ModelNotFoundError

from .embedded import EMBEDDED_MODEL
from .embedded import embedded_available
from .settings import LlamaCppSettings
from .settings import ModelSettings

__all__ = ["DEFAULT_ALIAS", "Catalog", "ModelEntry"]

log = logging.getLogger("llf.plugin.llama_cpp")

#: The alias that always names the default model.
DEFAULT_ALIAS = "default"
_SPLIT_RE = re.compile(r"-(\d{5})-of-(\d{5})$")
_MAX_DEPTH = 4

Source = Literal["config", "dir", "embedded"]


@final
class ModelEntry:
    """One servable model: its name, file (``None`` until the embedded one is built)."""

    __slots__ = ("name", "path", "settings", "source")

    def __init__(
        self,
        name: str,
        path: Path | None,
        source: Source,
        settings: ModelSettings | None = None,
    ) -> None:
        self.name = name
        self.path = path
        self.source: Source = source
        self.settings = settings

    def __repr__(self) -> str:
        return f"<ModelEntry {self.name} {self.source} {self.path}>"


def _scan_dir(root: Path) -> list[tuple[str, Path]]:
    found: list[tuple[str, Path]] = []
    stack: list[tuple[Path, int]] = [(root, 0)]
    while stack:
        folder, depth = stack.pop()
        try:
            children = sorted(folder.iterdir())
        except OSError as exc:
            log.warning("cannot read model folder %s: %s", folder, exc)
            continue
        for child in children:
            if child.name.startswith("."):
                continue
            if child.is_dir():
                if depth < _MAX_DEPTH:
                    stack.append((child, depth + 1))
                continue
            if child.suffix.lower() != ".gguf" or "mmproj" in child.name.lower():
                continue
            stem = child.stem
            split = _SPLIT_RE.search(stem)
            if split is not None:
                if int(split.group(1)) != 1:
                    continue
                stem = stem[: split.start()]
            found.append((stem, child))
    return found


@final
class Catalog:
    """The models of one provider; rescanned on :meth:`refresh`."""

    def __init__(self, settings: LlamaCppSettings, config_dir: Path | None = None) -> None:
        self._settings = settings
        self._base = config_dir
        self._entries: dict[str, ModelEntry] | None = None

    def _resolve(self, raw: str) -> Path:
        path = Path(raw).expanduser()
        if not path.is_absolute() and self._base is not None:
            path = self._base / path
        return path

    def refresh(self) -> dict[str, ModelEntry]:
        """Scan every source again."""
        entries: dict[str, ModelEntry] = {}
        for name, spec in self._settings.models.items():
            entries[name] = ModelEntry(name, self._resolve(spec.path), "config", spec)
        for raw_dir in self._settings.model_dirs:
            folder = self._resolve(raw_dir)
            if not folder.is_dir():
                log.warning("model_dirs entry %s is not a folder; skipped", folder)
                continue
            for name, path in _scan_dir(folder):
                if name in entries:
                    log.info("model %s at %s hidden by %s", name, path, entries[name].path)
                    continue
                entries[name] = ModelEntry(name, path, "dir")
        if self._settings.embedded_model and embedded_available():
            entries.setdefault(EMBEDDED_MODEL, ModelEntry(EMBEDDED_MODEL, None, "embedded"))
        self._entries = entries
        return entries

    def entries(self) -> dict[str, ModelEntry]:
        """Every model (scanned on first use)."""
        return self._entries if self._entries is not None else self.refresh()

    def default_name(self) -> str | None:
        """The name the ``default`` alias points to."""
        entries = self.entries()
        if self._settings.default_model:
            return self._settings.default_model
        if EMBEDDED_MODEL in entries:
            return EMBEDDED_MODEL
        return next(iter(entries), None)

    def get(self, name: str) -> ModelEntry:
        """The model called ``name`` (or ``default``); rescans once before giving up."""
        if name == DEFAULT_ALIAS:
            target = self.default_name()
            if target is None:
                raise ModelNotFoundError(
                    "llama_cpp has no default model: no model is configured and the embedded "
                    "model is not installed",
                    hint="install with pip install 'llf-host[local]', or add a GGUF model "
                    "under [plugins.llama_cpp.models]",
                    model=f"llama_cpp/{name}",
                )
            name = target
        entry = self.entries().get(name) or self.refresh().get(name)
        if entry is None:
            known = ", ".join(sorted(self.entries())) or "none"
            raise ModelNotFoundError(
                f"llama_cpp has no model named {name!r}",
                hint=f"available: {known}. Add a GGUF file under [plugins.llama_cpp.models] "
                "or put it in one of the model_dirs, then run `llf-host models refresh`",
                model=f"llama_cpp/{name}",
            )
        if entry.path is not None and not entry.path.is_file():
            where = (
                f"[plugins.llama_cpp.models.{name}] path"
                if entry.source == "config"
                else "the model folder"
            )
            raise ModelNotFoundError(
                f"the model file for llama_cpp/{name} does not exist: {entry.path}",
                hint=f"fix {where} to point at an existing .gguf file, or download the model there",
                model=f"llama_cpp/{name}",
                path=str(entry.path),
            )
        return entry
