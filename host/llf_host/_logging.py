"""Logging set-up: stderr (never stdout), an optional file, and debug tracing.

``--debug`` (or ``LLF_HOST_DEBUG=1``) turns on the ``llf.trace`` logger, which
shows each start-up phase's timing and every hook call with the plugin that
answered and how long it took.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

__all__ = ["DEBUG_ENV", "configure_logging", "debug_enabled"]

DEBUG_ENV = "LLF_HOST_DEBUG"
_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


def debug_enabled(environ: dict[str, str] | None = None) -> bool:
    """True when ``LLF_HOST_DEBUG`` is set to a true-ish value."""
    env = os.environ if environ is None else environ
    return env.get(DEBUG_ENV, "").lower() in {"1", "true", "yes", "on"}


def configure_logging(
    *, level: str = "warning", debug: bool = False, log_file: str | Path | None = None
) -> None:
    """Send the ``llf`` loggers to stderr (and ``log_file``); idempotent."""
    root = logging.getLogger("llf")
    for handler in list(root.handlers):
        if getattr(handler, "_llf_handler", False):
            root.removeHandler(handler)
            handler.close()
    effective = logging.DEBUG if debug else getattr(logging, level.upper(), logging.WARNING)
    root.setLevel(effective)
    root.propagate = False
    formatter = logging.Formatter(_FORMAT, datefmt="%H:%M:%S")
    stderr = logging.StreamHandler(sys.stderr)
    stderr.setFormatter(formatter)
    stderr._llf_handler = True  # type: ignore[attr-defined]
    root.addHandler(stderr)
    if log_file:
        path = Path(log_file).expanduser()
        path.parent.mkdir(parents=True, exist_ok=True)
        file_handler = logging.FileHandler(path, encoding="utf-8")
        file_handler.setFormatter(formatter)
        file_handler._llf_handler = True  # type: ignore[attr-defined]
        root.addHandler(file_handler)
    logging.getLogger("llf.trace").setLevel(logging.DEBUG if debug else logging.WARNING)
