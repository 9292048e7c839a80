"""What may be stored: key names (the manifest rule) and values.

Errors name the key but never contain the value.
"""

from __future__ import annotations

from .._errors import KeyStoreError
from .._manifest import KEY_NAME_RE

__all__ = ["MAX_VALUE_BYTES", "check_name", "check_value"]

#: Largest value accepted (service-account JSON files are a few KiB).
MAX_VALUE_BYTES = 1 << 20


def check_name(name: object) -> str:
    """``name`` if it is a valid key name (the manifest rule), else KeyStoreError."""
    if not isinstance(name, str) or not KEY_NAME_RE.match(name):
        shown = name[:40] + "..." if isinstance(name, str) and len(name) > 40 else name
        raise KeyStoreError(
            f"{shown!r} is not a valid key name",
            hint="use 1 to 128 letters, digits, '_', '.', ':' or '-' (e.g. OPENAI_API_KEY)",
            field="name",
        )
    return name


def _value_problem(value: object) -> str | None:
    if not isinstance(value, str):
        return "is not text"
    if not value:
        return "is empty"
    try:
        size = len(value.encode("utf-8"))
    except UnicodeEncodeError:
        return "is not valid Unicode text (it holds unpaired surrogates)"
    if size > MAX_VALUE_BYTES:
        return f"is {size} bytes, more than the {MAX_VALUE_BYTES} allowed"
    return None


def check_value(name: str, value: object) -> str:
    """``value`` if it can be stored; the error never contains the value."""
    problem = _value_problem(value)
    if problem is not None or not isinstance(value, str):
        raise KeyStoreError(
            f"the value for key {name!r} {problem}; nothing was stored",
            hint="pass the secret as text on stdin or at the prompt",
            key=name,
            field="value",
        )
    return value
