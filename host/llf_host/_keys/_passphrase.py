"""Where the key store's passphrase comes from, in order.

1. an explicit argument (Python API);
2. the ``LLF_HOST_PASSPHRASE`` environment variable;
3. the OS keyring, when the optional ``keyring`` package and a real backend are
   present (``llf-host keys unlock`` stores it there; entry: service ``llf-host``,
   user = the store's path, so two homes never share an entry);
4. an interactive prompt, only when stdin is a terminal (never in ``serve``).
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Literal
from typing import NamedTuple

from .._errors import KeyStoreError

__all__ = [
    "KEYRING_SERVICE",
    "PASSPHRASE_ENV",
    "Passphrase",
    "PassphraseSource",
    "find_passphrase",
    "keyring_available",
    "keyring_delete",
    "keyring_get",
    "keyring_set",
    "stdin_is_tty",
]

log = logging.getLogger("llf.keys")

PASSPHRASE_ENV = "LLF_HOST_PASSPHRASE"
KEYRING_SERVICE = "llf-host"

PassphraseSource = Literal["explicit", "env", "keyring", "prompt", "stdin"]


class Passphrase(NamedTuple):
    """A passphrase and where it came from (the value never reaches a log)."""

    value: str
    source: PassphraseSource

    def __repr__(self) -> str:
        return f"Passphrase(source={self.source!r})"


def stdin_is_tty() -> bool:
    """True when stdin is an interactive terminal (prompting is allowed)."""
    try:
        return sys.stdin is not None and sys.stdin.isatty()
    except (ValueError, OSError):
        return False


def _keyring_module() -> object | None:
    try:
        import keyring
        from keyring.backends import fail
    except Exception:  # noqa: BLE001 - not installed, or a broken backend configuration
        return None
    try:
        backend = keyring.get_keyring()
    except Exception:  # noqa: BLE001 - keyring backends raise anything; treat as absent
        return None
    if isinstance(backend, fail.Keyring):
        return None
    return keyring


def keyring_available() -> bool:
    """True when the ``keyring`` package is installed and has a usable backend."""
    return _keyring_module() is not None


def keyring_get(store_path: Path) -> str | None:
    """The passphrase saved for the store at ``store_path``, if any."""
    module = _keyring_module()
    if module is None:
        return None
    try:
        value = module.get_password(KEYRING_SERVICE, str(store_path))  # type: ignore[attr-defined]
    except Exception as exc:  # noqa: BLE001 - see above
        log.warning("the OS keyring could not be read (%s); ignoring it", type(exc).__name__)
        return None
    return value if isinstance(value, str) and value else None


def keyring_set(store_path: Path, passphrase: str) -> None:
    """Save the passphrase for ``store_path`` in the OS keyring."""
    module = _keyring_module()
    if module is None:
        raise KeyStoreError(
            "no OS keyring is available to remember the passphrase",
            hint="install the keyring extra (pip install 'llf-host[keyring]') on a system "
            "with a keyring service, or set LLF_HOST_PASSPHRASE in the environment of the "
            "program that starts llf-host",
            path=str(store_path),
        )
    try:
        module.set_password(KEYRING_SERVICE, str(store_path), passphrase)  # type: ignore[attr-defined]
    except Exception as exc:  # noqa: BLE001 - see above
        raise KeyStoreError(
            f"the OS keyring refused to store the passphrase ({type(exc).__name__})",
            hint="unlock your desktop keyring and try again, or use LLF_HOST_PASSPHRASE",
            path=str(store_path),
        ) from None


def keyring_delete(store_path: Path) -> bool:
    """Forget the saved passphrase; True when one was removed."""
    module = _keyring_module()
    if module is None:
        return False
    try:
        module.delete_password(KEYRING_SERVICE, str(store_path))  # type: ignore[attr-defined]
    except Exception:  # noqa: BLE001 - see above
        return False
    return True


def find_passphrase(
    store_path: Path,
    *,
    explicit: str | None = None,
    environ: dict[str, str] | None = None,
    use_keyring: bool = True,
) -> Passphrase | None:
    """The first passphrase from the non-interactive sources, or ``None``."""
    if explicit:
        return Passphrase(explicit, "explicit")
    env_value = (environ or {}).get(PASSPHRASE_ENV)
    if env_value:
        return Passphrase(env_value, "env")
    if use_keyring:
        saved = keyring_get(store_path)
        if saved:
            return Passphrase(saved, "keyring")
    return None
