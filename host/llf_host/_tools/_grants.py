"""What a plugin's tools may actually reach: the manifest is the ceiling, the user picks.

One rule for network and filesystem alike:

* the manifest's ``[permissions]`` is the most a plugin can ever get;
* if the user's config has ``[sandbox.grants.<plugin>]`` for that kind, the
  effective grant is what the user listed, **kept only where the manifest
  covers it** (anything else is dropped with a warning);
* otherwise the plugin gets its manifest grant, unless the manifest says
  ``[sandbox] grants = "user"``: then it gets nothing until the user grants.

The built-in ``tools_net`` and ``tools_builtin`` plugins use ``grants = "user"``,
so ``http_get`` fails with :class:`~llf_host.SandboxDenied` until destinations
are configured, and ``read_file`` sees no folder until one is granted.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any

from llf_sandbox import NetworkGrant

from .._manifest import Manifest
from ._settings import GrantConfig

__all__ = ["EffectiveGrants", "effective_grants", "parse_destination"]

log = logging.getLogger("llf.tools")


@dataclasses.dataclass(frozen=True)
class EffectiveGrants:
    """The grants a worker is started with."""

    network: NetworkGrant
    read: tuple[str, ...]
    write: tuple[str, ...]
    #: Entries dropped because the manifest does not cover them.
    warnings: tuple[str, ...] = ()
    #: ``manifest`` or ``user`` (who decides, see the module docstring).
    mode: str = "manifest"

    def describe(self) -> dict[str, Any]:
        """JSON-ready summary (``tools list``, approval requests)."""
        return {
            "network": self.network.describe(),
            "filesystem": [*self.read, *(f"{p} (write)" for p in self.write)],
        }


def parse_destination(text: str) -> tuple[str, int | None]:
    """``"host"``, ``"host:port"``, ``"host:*"``, ``"[::1]:port"`` or ``"*"`` -> (host, port)."""
    text = text.strip()
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port_text = rest[1:] if rest.startswith(":") else ""
    else:
        host, _, port_text = text.partition(":")
    if not port_text or port_text == "*":
        return host.lower(), None
    return host.lower(), int(port_text)


def _covers_destination(ceiling: tuple[str, int | None], wanted: tuple[str, int | None]) -> bool:
    host_ok = ceiling[0] == "*" or ceiling[0] == wanted[0]
    port_ok = ceiling[1] is None or ceiling[1] == wanted[1]
    return host_ok and port_ok


def _resolve(path: str, base: Path) -> Path:
    expanded = Path(path).expanduser()
    if not expanded.is_absolute():
        expanded = base / expanded
    return expanded.resolve()


def _fs_entries(items: list[str | dict[str, Any]], base: Path) -> list[tuple[Path, bool]]:
    out: list[tuple[Path, bool]] = []
    for item in items:
        if isinstance(item, str):
            out.append((_resolve(item, base), False))
        elif isinstance(item, dict) and isinstance(item.get("path"), str):
            out.append((_resolve(item["path"], base), bool(item.get("write", False))))
    return out


def effective_grants(manifest: Manifest | None, config: GrantConfig | None) -> EffectiveGrants:
    """Combine a manifest's ceiling with the user's grants (see the module docstring)."""
    if manifest is None:
        return EffectiveGrants(NetworkGrant(), (), ())
    mode = str(manifest.sandbox.get("grants", "manifest"))
    warnings: list[str] = []
    if mode not in ("manifest", "user"):
        warnings.append(
            f"{manifest.path}: [sandbox] grants = {mode!r} is not 'manifest' or 'user'; "
            "treated as 'user' (nothing granted until the config grants it)"
        )
        mode = "user"
    ceiling_net = [parse_destination(d) for d in manifest.permissions.network]
    if config is not None and config.network is not None:
        wanted_net = [parse_destination(d) for d in config.network]
    elif mode == "user":
        wanted_net = []
    else:
        wanted_net = list(ceiling_net)
    network: list[tuple[str, int | None]] = []
    for dest in wanted_net:
        if any(_covers_destination(c, dest) for c in ceiling_net):
            network.append(dest)
        else:
            warnings.append(
                f"network grant {dest[0]}:{dest[1] or '*'} for plugin {manifest.name!r} is outside "
                f"its manifest ({', '.join(manifest.permissions.network) or 'no network'}); ignored"
            )
    ceiling_fs = [
        (_resolve(g.path, manifest.root), g.write) for g in manifest.permissions.filesystem
    ]
    if config is not None and config.filesystem is not None:
        wanted_fs = _fs_entries(config.filesystem, Path.cwd())
    elif mode == "user":
        wanted_fs = []
    else:
        wanted_fs = list(ceiling_fs)
    read: list[str] = []
    write: list[str] = []
    for path, wants_write in wanted_fs:
        covering = [w for root, w in ceiling_fs if path == root or path.is_relative_to(root)]
        if not covering:
            warnings.append(
                f"filesystem grant {path} for plugin {manifest.name!r} is outside its manifest; "
                "ignored"
            )
        elif wants_write and not any(covering):
            warnings.append(
                f"filesystem grant {path} for plugin {manifest.name!r} asks for write, the "
                "manifest allows read only; granted read-only"
            )
            read.append(str(path))
        else:
            (write if wants_write else read).append(str(path))
    for warning in warnings:
        log.warning("%s", warning)
    return EffectiveGrants(
        NetworkGrant(tuple(network)), tuple(read), tuple(write), tuple(warnings), mode
    )
