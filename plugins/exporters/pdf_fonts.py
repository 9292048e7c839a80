"""Fonts for PDF exports: a Unicode TrueType font when one is found, else the core fonts.

The core PDF fonts (Helvetica, Courier) only cover Latin-1, so other characters
would print as ``?``. The exporter therefore looks for DejaVu (most Linux
systems have it) or another common Unicode font; the ``font`` option names a
``.ttf`` file explicitly.
"""

from __future__ import annotations

from pathlib import Path

import msgspec

_SANS = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/local/share/fonts/DejaVuSans.ttf",
    "/Library/Fonts/Arial Unicode.ttf",
    "/System/Library/Fonts/Supplemental/Arial Unicode.ttf",
)


class FontSet(msgspec.Struct, frozen=True):
    """Regular, bold and monospaced font files (None: use the core fonts)."""

    regular: Path | None
    bold: Path | None
    mono: Path | None

    @property
    def unicode(self) -> bool:
        """True when a TrueType font covers text beyond Latin-1."""
        return self.regular is not None


def _sibling(path: Path, *names: str) -> Path | None:
    for name in names:
        candidate = path.with_name(name)
        if candidate.is_file():
            return candidate
    return None


def find_fonts(explicit: str | None) -> FontSet:
    """The fonts to use: ``explicit`` (a .ttf path) or the first common one found."""
    candidates = [explicit] if explicit else list(_SANS)
    for raw in candidates:
        path = Path(raw).expanduser()
        if path.is_file():
            stem = path.stem
            bold = _sibling(path, f"{stem}-Bold.ttf", f"{stem}Bold.ttf")
            mono = _sibling(path, f"{stem}Mono.ttf", "DejaVuSansMono.ttf")
            return FontSet(regular=path, bold=bold, mono=mono)
    return FontSet(regular=None, bold=None, mono=None)
