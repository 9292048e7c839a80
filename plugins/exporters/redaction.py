"""Finding the host's redactor, so exports never carry a secret value.

The host attaches a redactor as ``host.services["redactor"]`` when the key store
is in use. Exporters ask for it at export time (it may appear after start-up)
and pass both the conversations and the rendered text through it. Without one
there is nothing known to redact and exports are unchanged.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any
from typing import TypeVar

T = TypeVar("T")

log = logging.getLogger("llf.plugin.exporters")


class RedactionRef:
    """A late-bound handle on ``host.services["redactor"]``."""

    def __init__(self) -> None:
        self._services: Mapping[str, Any] | None = None

    def bind(self, services: Mapping[str, Any]) -> None:
        """Look the redactor up in ``services`` from now on."""
        self._services = services

    def unbind(self) -> None:
        """Forget the host (the plugin is being unloaded)."""
        self._services = None

    def _redactor(self) -> Any | None:
        if self._services is None:
            return None
        return self._services.get("redactor")

    def value(self, obj: T) -> T:
        """``obj`` (a Struct, dict, list or str) with every known secret replaced."""
        redactor = self._redactor()
        if redactor is None:
            return obj
        redacted: T = redactor.redact(obj)
        return redacted

    def text(self, text: str) -> str:
        """``text`` with every known secret replaced."""
        redactor = self._redactor()
        if redactor is None:
            return text
        redacted: str = redactor.redact_text(text)
        return redacted
