"""Reading keys to import: environment variables and ``llm``'s ``keys.json``.

Simon Willison's ``llm`` keeps keys in a plain JSON object of ``name: value``
(plus a ``"// Note"`` entry); :func:`read_llm_keys` reads that file so a user can
move to the encrypted store and then delete it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

from .._errors import KeyStoreError
from .._manifest import KEY_NAME_RE

__all__ = ["ImportPlan", "from_environment", "read_llm_keys"]


class ImportPlan(NamedTuple):
    """Keys to store (``name -> value``) and what was left out, with why."""

    items: dict[str, str]
    skipped: dict[str, str]


def from_environment(specs: Sequence[str], environ: Mapping[str, str]) -> ImportPlan:
    """Keys from environment variables: ``VAR`` (stored as ``VAR``) or ``NAME=VAR``.

    Every variable must be set and non-empty; otherwise nothing is imported.
    """
    items: dict[str, str] = {}
    missing: list[str] = []
    for spec in specs:
        name, sep, var = spec.partition("=")
        if not sep:
            var = name
        if not KEY_NAME_RE.match(name):
            raise KeyStoreError(
                f"{name!r} is not a valid key name",
                hint="use 1 to 128 letters, digits, '_', '.', ':' or '-'; map a variable "
                "to another name with NAME=VAR",
                field="name",
            )
        value = environ.get(var)
        if not value:
            missing.append(var)
            continue
        items[name] = value
    if missing:
        raise KeyStoreError(
            f"environment variable(s) not set or empty: {', '.join(missing)}; nothing was imported",
            hint="export them in this shell first, or leave them out",
            variables=missing,
        )
    return ImportPlan(items, {})


def read_llm_keys(path: Path) -> ImportPlan:
    """Keys from an ``llm``-style ``keys.json`` (``{"name": "value", ...}``)."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise KeyStoreError(
            f"{path} does not exist",
            hint="llm keeps it at `llm keys path`; pass that file",
            path=str(path),
        ) from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise KeyStoreError(
            f"{path} is not a readable JSON file ({type(exc).__name__})",
            hint="pass llm's keys.json (a JSON object of name: value)",
            path=str(path),
        ) from None
    if not isinstance(raw, dict):
        raise KeyStoreError(
            f"{path} does not hold a JSON object",
            hint="pass llm's keys.json (a JSON object of name: value)",
            path=str(path),
        )
    items: dict[str, str] = {}
    skipped: dict[str, str] = {}
    for name, value in raw.items():
        if name.startswith("//"):
            continue
        if not KEY_NAME_RE.match(name):
            skipped[name[:60]] = "not a valid key name"
        elif not isinstance(value, str) or not value:
            skipped[name] = "value is not a non-empty string"
        else:
            items[name] = value
    return ImportPlan(items, skipped)
