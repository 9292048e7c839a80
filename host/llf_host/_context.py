"""What a plugin's hooks receive: its own name, config, data dir, logger and keys."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING
from typing import Any
from typing import Protocol
from typing import final

from ._errors import PluginError

if TYPE_CHECKING:
    from ._manifest import Manifest

__all__ = ["KeySource", "PluginContext"]


class KeySource(Protocol):
    """Where a context reads secrets from (the host's key store)."""

    def read_key(self, name: str, *, plugin: str) -> str:
        """Return the secret ``name``; raise a KeyStoreError subclass when unavailable."""
        ...


@final
class PluginContext:
    """Per-plugin view of the host, passed to hooks that ask for ``context``.

    A plugin only sees its own config section and only the keys its manifest names.
    """

    def __init__(
        self,
        manifest: Manifest,
        *,
        config: dict[str, Any],
        data_dir: Path,
        keys: KeySource | None = None,
    ) -> None:
        self.manifest = manifest
        #: The plugin's name (``[plugin] name`` in its manifest).
        self.name: str = manifest.name
        #: The plugin's config section (``[plugins.<name>]``), already validated.
        self.config: dict[str, Any] = config
        #: A directory the plugin may use for its own files (created on demand).
        self.data_dir: Path = data_dir
        #: Logger named ``llf.plugin.<name>``.
        self.log: logging.Logger = logging.getLogger(f"llf.plugin.{manifest.name}")
        self._keys = keys

    def key(self, name: str) -> str:
        """The secret ``name``, if this plugin's manifest lists it under ``permissions.keys``.

        Raises :class:`~llf_host.PluginError` for a key not declared in the manifest,
        :class:`~llf_host.KeyStoreLocked` when the store is locked and
        :class:`~llf_host.KeyNotFoundError` when it is not stored.
        """
        if name not in self.manifest.permissions.keys:
            raise PluginError(
                f"plugin {self.name!r} asked for key {name!r}, which its manifest does not name",
                hint=f'add "{name}" to permissions.keys in {self.manifest.path}',
                plugin=self.name,
                key=name,
            )
        if self._keys is None:
            from ._errors import KeyStoreLocked

            raise KeyStoreLocked(
                "the key store is not available in this host",
                hint="set LLF_HOST_PASSPHRASE or run `llf-host keys unlock`",
                plugin=self.name,
            )
        return self._keys.read_key(name, plugin=self.name)

    def __repr__(self) -> str:
        return f"<PluginContext {self.name}>"
