"""Protocol method families, one module each.

A family whose module is missing (its feature is not built yet) or whose plugin
is not loaded answers with a clear "not available" error.
"""

from __future__ import annotations

import importlib
import logging

__all__ = ["FAMILY_MODULES", "load_all"]

log = logging.getLogger("llf.rpc")

#: Modules (relative to this package) that declare methods with ``@rpc_method``.
FAMILY_MODULES: tuple[str, ...] = (
    "host",
    "plugins",
    "models",
    "chat",
    "tools",
    "keys",
    "memory",
    "export",
    "routing",
)


def load_all() -> None:
    """Import every family module so its methods are registered."""
    for name in FAMILY_MODULES:
        try:
            importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"{__name__}.{name}":
                raise
            log.debug("protocol family %s not built", name)
