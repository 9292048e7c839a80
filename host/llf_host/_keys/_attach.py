"""Attaching the key store and the redactor to a host (``Host.start`` calls this).

The host never prompts: it opens the store with the first non-interactive
passphrase source (explicit, ``LLF_HOST_PASSPHRASE``, OS keyring) and otherwise
starts with the store locked, so keyless providers work and key-needing ones get
:class:`~llf_host.KeyStoreLocked` with the fix.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import threading
import time
from typing import TYPE_CHECKING
from typing import Any

import msgspec

from .._config import Config
from .._errors import ConfigError
from .._errors import KeyStoreError
from .._redact import Redactor
from .._redact import install_log_redaction
from ._format import ScryptParams
from ._passphrase import find_passphrase
from ._store import AuditFn
from ._store import KeyStore

if TYPE_CHECKING:
    from .._host import Host

__all__ = ["KeySettings", "attach_key_store", "key_settings", "store_for"]

log = logging.getLogger("llf.keys")
timing_log = logging.getLogger("llf.trace")


class KeySettings(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """The ``[keys]`` config section.

    ``scrypt_*`` apply when a store is created or rotated (an existing store is
    opened with the parameters written in its header). Lowering them makes a
    stolen file cheaper to attack; the test suite does it to stay fast.
    """

    scrypt_log2_n: int = 17
    scrypt_r: int = 8
    scrypt_p: int = 1
    #: Read the passphrase from the OS keyring when `keyring` is installed.
    keyring: bool = True
    #: Seconds to wait for another process's write before giving up.
    lock_timeout_s: float = 10.0

    @property
    def kdf(self) -> ScryptParams:
        """The scrypt parameters for new stores."""
        return ScryptParams(n=1 << self.scrypt_log2_n, r=self.scrypt_r, p=self.scrypt_p)


def key_settings(config: Config) -> KeySettings:
    """The validated ``[keys]`` section."""
    try:
        settings = msgspec.convert(config.section("keys"), KeySettings)
    except msgspec.ValidationError as exc:
        raise ConfigError(
            f"{config.path or 'config'}: [keys] is invalid: {exc}",
            hint="see docs/security.md (Key store) for the [keys] settings",
            field="keys",
        ) from None
    problem = settings.kdf.problem() if 0 < settings.scrypt_log2_n < 64 else "bad scrypt_log2_n"
    if problem is not None:
        raise ConfigError(
            f"{config.path or 'config'}: [keys] scrypt parameters refused: {problem}",
            hint="remove them to use the defaults (scrypt_log2_n = 17, r = 8, p = 1)",
            field="keys",
        )
    return settings


def store_for(host: Host) -> KeyStore:
    """A (locked) key store for ``host``'s paths and ``[keys]`` settings."""
    settings = key_settings(host.config)
    return KeyStore(host.paths.keys_file, kdf=settings.kdf, lock_timeout=settings.lock_timeout_s)


def _threadsafe_audit(host: Host) -> AuditFn:
    """``host.audit`` that may be called from worker threads (RPC handlers use them)."""
    loop = asyncio.get_running_loop()
    loop_thread = threading.get_ident()

    def audit(kind: str, *, plugin: str | None = None, **data: Any) -> None:
        if threading.get_ident() == loop_thread:
            host.audit(kind, plugin=plugin, **data)
            return
        try:
            loop.call_soon_threadsafe(functools.partial(host.audit, kind, plugin=plugin, **data))
        except RuntimeError:
            log.debug("audit event %s dropped: the host's loop is closed", kind)

    return audit


async def attach_key_store(host: Host, *, passphrase: str | None = None) -> KeyStore:
    """Give ``host`` its redactor (``services["redactor"]``) and key store (``host.keys``).

    Idempotent: a store already set on ``host.keys`` is kept (the CLI attaches one
    it unlocked itself). Never prompts. A wrong passphrase is logged and leaves the
    store locked; the host still starts.
    """
    redactor = host.services.get("redactor")
    if not isinstance(redactor, Redactor):
        redactor = Redactor()
        host.services["redactor"] = redactor
    install_log_redaction(redactor)
    store = host.keys if isinstance(host.keys, KeyStore) else store_for(host)
    store.bind(audit=_threadsafe_audit(host), redactor=redactor)
    host.keys = store
    host.services["keys"] = store
    if store.unlocked:
        return store
    # `keys unlock` always leaves a store behind, so without a file there is no
    # keyring entry worth a (possibly slow, possibly GUI-prompting) keyring call.
    use_keyring = key_settings(host.config).keyring and store.exists
    if use_keyring:  # a keyring backend may block (D-Bus, a GUI prompt): off the loop
        found = await asyncio.to_thread(
            find_passphrase,
            store.path,
            explicit=passphrase,
            environ=host.environ,
            use_keyring=True,
        )
    else:  # only the argument and the environment: nothing that blocks
        found = find_passphrase(
            store.path, explicit=passphrase, environ=host.environ, use_keyring=False
        )
    if found is None:
        log.debug("no key store passphrase source: the key store stays locked")
        return store
    started = time.perf_counter()
    try:
        await asyncio.to_thread(store.unlock, found.value)
    except KeyStoreError as exc:
        log.error("the key store stays locked: %s", exc)
        return store
    timing_log.debug(
        "key store unlocked from %s in %.1f ms",
        found.source,
        (time.perf_counter() - started) * 1000,
    )
    return store
