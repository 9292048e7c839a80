"""Plugin config sections already found valid, so the next start skips jsonschema.

Importing jsonschema costs ~50 ms, a third of the start-up budget, and the
config rarely changes between starts. A section that passed its plugin's schema
is remembered by a digest of (schema, section); the next start with the same
pair does not validate again. Only successes are stored, so a broken section is
reported on every start. The file lives in the cache folder: losing it only
costs one validation.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from pathlib import Path
from typing import Any
from typing import final

import msgspec

__all__ = ["ValidatedConfigs"]

log = logging.getLogger("llf.host")

#: Digests kept (the newest); one per (plugin schema, section) a user has had.
_KEEP = 256


@final
class ValidatedConfigs:
    """Digests of (schema, section) pairs that validated, stored one per line."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._known: list[str] | None = None

    @staticmethod
    def digest(schema: dict[str, Any], section: dict[str, Any]) -> str:
        """A stable digest of the pair (key order does not matter)."""
        data = msgspec.json.encode([schema, section], order="deterministic")
        return hashlib.sha256(data).hexdigest()

    def _load(self) -> list[str]:
        if self._known is None:
            self._known = []
            if self.path is not None:
                try:
                    text = self.path.read_text(encoding="ascii")
                except (OSError, UnicodeDecodeError):
                    text = ""
                self._known = [line for line in text.split() if len(line) == 64]
        return self._known

    def known(self, digest: str) -> bool:
        """Whether this pair validated before."""
        return digest in self._load()

    def remember(self, digest: str) -> None:
        """Store a pair that just validated (best effort: a failure only costs time)."""
        known = self._load()
        if digest in known:
            return
        known.append(digest)
        del known[:-_KEEP]
        if self.path is None:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".config-valid-", dir=self.path.parent)
            with os.fdopen(fd, "w", encoding="ascii") as handle:
                handle.write("\n".join(known) + "\n")
            Path(tmp).replace(self.path)
        except OSError as exc:
            log.debug("could not store validated config digests in %s: %s", self.path, exc)
