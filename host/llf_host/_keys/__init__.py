"""The encrypted key store: format, file handling, passphrase sources, host wiring.

See docs/security.md ("Key store") for the threat model and the file format.
"""

from __future__ import annotations

from ._attach import KeySettings
from ._attach import attach_key_store
from ._attach import key_settings
from ._attach import store_for
from ._format import DEFAULT_KDF
from ._format import ScryptParams
from ._importing import ImportPlan
from ._importing import from_environment
from ._importing import read_llm_keys
from ._passphrase import PASSPHRASE_ENV
from ._passphrase import Passphrase
from ._passphrase import find_passphrase
from ._passphrase import keyring_available
from ._passphrase import keyring_delete
from ._passphrase import keyring_get
from ._passphrase import keyring_set
from ._passphrase import stdin_is_tty
from ._rules import MAX_VALUE_BYTES
from ._rules import check_name
from ._rules import check_value
from ._store import LOCKED_HINT
from ._store import KeyInfo
from ._store import KeyStore

__all__ = [
    "DEFAULT_KDF",
    "LOCKED_HINT",
    "MAX_VALUE_BYTES",
    "PASSPHRASE_ENV",
    "ImportPlan",
    "KeyInfo",
    "KeySettings",
    "KeyStore",
    "Passphrase",
    "ScryptParams",
    "attach_key_store",
    "check_name",
    "check_value",
    "find_passphrase",
    "from_environment",
    "key_settings",
    "keyring_available",
    "keyring_delete",
    "keyring_get",
    "keyring_set",
    "read_llm_keys",
    "stdin_is_tty",
    "store_for",
]
