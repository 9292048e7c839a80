"""The ``[plugins.mlx]`` config section and the models it names.

Models are MLX-format folders (``config.json``, ``*.safetensors`` weights and
tokenizer files, as ``mlx_lm.convert`` writes them): named in ``models`` or found
under ``model_dirs`` (named by their path below that folder, e.g.
``mlx-community/Qwen2.5-0.5B-Instruct-4bit``).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import final

import msgspec

from llf_host import ConfigError
from llf_host import ModelNotFoundError

__all__ = ["MlxModelSettings", "MlxSettings", "ModelCatalog", "parse_settings"]

log = logging.getLogger("llf.plugin.mlx")
_MAX_DEPTH = 3


class MlxModelSettings(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """One configured model."""

    path: str
    adapter_path: str | None = None
    chat_template: str | None = None
    description: str = ""


class MlxSettings(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """Every setting of the plugin."""

    models: dict[str, MlxModelSettings] = msgspec.field(default_factory=dict)
    model_dirs: list[str] = msgspec.field(default_factory=list)
    max_tokens: int = 512
    seed: int | None = None
    max_kv_size: int | None = None


def parse_settings(section: dict[str, object]) -> MlxSettings:
    """Validate the config section (``name = "path"`` shorthand allowed)."""
    data = dict(section)
    models = data.get("models")
    if isinstance(models, dict):
        data["models"] = {
            name: {"path": spec} if isinstance(spec, str) else spec for name, spec in models.items()
        }
    try:
        return msgspec.convert(data, MlxSettings)
    except msgspec.ValidationError as exc:
        raise ConfigError(
            f"config [plugins.mlx] is invalid: {exc}",
            hint="see docs/engines.md for the mlx settings",
            plugin="mlx",
        ) from None


def is_mlx_model_dir(path: Path) -> bool:
    """True for a folder holding an MLX model (config and safetensors weights)."""
    return (path / "config.json").is_file() and any(path.glob("*.safetensors"))


@final
class ModelCatalog:
    """Configured and discovered model folders, by name."""

    def __init__(self, settings: MlxSettings) -> None:
        self._settings = settings
        self._models: dict[str, MlxModelSettings] | None = None

    def refresh(self) -> dict[str, MlxModelSettings]:
        """Scan the configured folders again."""
        found = dict(self._settings.models)
        for raw in self._settings.model_dirs:
            root = Path(raw).expanduser()
            if not root.is_dir():
                log.warning("mlx model_dirs entry %s is not a folder; skipped", root)
                continue
            stack = [(root, 0)]
            while stack:
                folder, depth = stack.pop()
                if is_mlx_model_dir(folder) and folder != root:
                    found.setdefault(
                        folder.relative_to(root).as_posix(), MlxModelSettings(path=str(folder))
                    )
                    continue
                if depth >= _MAX_DEPTH:
                    continue
                try:
                    children = sorted(p for p in folder.iterdir() if p.is_dir())
                except OSError:
                    continue
                stack.extend((child, depth + 1) for child in children)
        self._models = found
        return found

    def models(self) -> dict[str, MlxModelSettings]:
        """Every model (scanned on first use)."""
        return self._models if self._models is not None else self.refresh()

    def get(self, name: str) -> MlxModelSettings:
        """The model ``name``; ModelNotFoundError with the fix when unknown or missing."""
        spec = self.models().get(name) or self.refresh().get(name)
        if spec is None:
            known = ", ".join(sorted(self.models())) or "none"
            raise ModelNotFoundError(
                f"mlx has no model named {name!r}",
                hint=f"available: {known}. Add a converted model folder under [plugins.mlx.models] "
                "or in one of the model_dirs (convert with `mlx_lm.convert --hf-path ...`)",
                model=f"mlx/{name}",
            )
        path = Path(spec.path).expanduser()
        if not is_mlx_model_dir(path):
            raise ModelNotFoundError(
                f"{path} is not an MLX model folder (it needs config.json and *.safetensors)",
                hint=f"fix [plugins.mlx.models] {name} to point at a folder written by "
                "mlx_lm.convert",
                model=f"mlx/{name}",
                path=str(path),
            )
        return spec
