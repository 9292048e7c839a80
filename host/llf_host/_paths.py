"""Where the host keeps its files: config, data, cache, user plugins.

Defaults come from platformdirs; ``LLF_HOST_HOME`` puts everything under one
folder (tests and portable installs use it), and each folder has its own
override (``LLF_HOST_CONFIG_DIR``, ``LLF_HOST_DATA_DIR``, ``LLF_HOST_CACHE_DIR``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import final

__all__ = ["HostPaths"]

APP_NAME = "llf-host"


@final
class HostPaths:
    """The folders the host uses; nothing is created until :meth:`ensure` is called."""

    def __init__(
        self,
        config_dir: Path,
        data_dir: Path,
        cache_dir: Path,
    ) -> None:
        self.config_dir = config_dir
        self.data_dir = data_dir
        self.cache_dir = cache_dir

    @property
    def config_file(self) -> Path:
        """The TOML config file."""
        return self.config_dir / "config.toml"

    @property
    def plugins_dir(self) -> Path:
        """The user's drop-in plugins folder."""
        return self.data_dir / "plugins"

    @property
    def keys_file(self) -> Path:
        """The encrypted key store."""
        return self.data_dir / "keys.enc"

    def plugin_data_dir(self, plugin: str) -> Path:
        """A folder for one plugin's own files."""
        return self.data_dir / "plugin-data" / plugin

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> HostPaths:
        """Resolve the folders from the environment (see the module docstring)."""
        env = dict(os.environ) if environ is None else environ
        home = env.get("LLF_HOST_HOME")
        if home:
            base = Path(home).expanduser()
            config, data, cache = base / "config", base / "data", base / "cache"
        else:
            import platformdirs

            config = Path(platformdirs.user_config_dir(APP_NAME))
            data = Path(platformdirs.user_data_dir(APP_NAME))
            cache = Path(platformdirs.user_cache_dir(APP_NAME))
        return cls(
            config_dir=Path(env["LLF_HOST_CONFIG_DIR"])
            if env.get("LLF_HOST_CONFIG_DIR")
            else config,
            data_dir=Path(env["LLF_HOST_DATA_DIR"]) if env.get("LLF_HOST_DATA_DIR") else data,
            cache_dir=Path(env["LLF_HOST_CACHE_DIR"]) if env.get("LLF_HOST_CACHE_DIR") else cache,
        )

    def ensure(self, path: Path) -> Path:
        """Create ``path`` (a folder) with mode 0700 if missing, and return it."""
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
        return path

    def __repr__(self) -> str:
        return f"HostPaths(config={self.config_dir}, data={self.data_dir}, cache={self.cache_dir})"
