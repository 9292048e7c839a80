"""The key store: encrypted secrets in one file, handed to plugins one name at a time.

::

    store = KeyStore(paths.keys_file)
    store.unlock("correct horse battery staple")
    store.set("OPENAI_API_KEY", "sk-...")
    store.read_key("OPENAI_API_KEY", plugin="openai")   # audited as key.read
    [k.name for k in store.list()]                      # names and dates, never values

Every change is a read-modify-write under an inter-process lock, re-reading the
file under the lock first, so two processes never lose each other's update. A
wrong passphrase or a damaged file raises :class:`~llf_host.KeyStoreCorrupt` and
nothing is written. Reads need no lock (the file is replaced atomically) and are
served from memory while the file's bytes are unchanged.
"""

from __future__ import annotations

import builtins
import logging
import threading
import time
from collections.abc import Callable
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING
from typing import Any
from typing import TypeVar
from typing import final

import msgspec

from .._errors import KeyNotFoundError
from .._errors import KeyStoreError
from .._errors import KeyStoreLocked
from . import _format
from ._file import atomic_write
from ._file import locked
from ._file import read_file
from ._format import DEFAULT_KDF
from ._format import DerivedKey
from ._format import Payload
from ._format import ScryptParams
from ._format import StoredKey
from ._rules import check_name
from ._rules import check_value

if TYPE_CHECKING:
    from .._redact import Redactor

__all__ = ["AuditFn", "KeyInfo", "KeyStore"]

log = logging.getLogger("llf.keys")

R = TypeVar("R")
#: ``audit(kind, plugin=..., **data)``, like :meth:`llf_host.Host.audit`.
AuditFn = Callable[..., None]

LOCKED_HINT = "set LLF_HOST_PASSPHRASE or run `llf-host keys unlock`"


class KeyInfo(msgspec.Struct, frozen=True):
    """What may be shown about a key: its name and dates (epoch seconds), never its value."""

    name: str
    created: float
    updated: float


@final
class KeyStore:
    """An encrypted key store file; also the host's :class:`~llf_host._context.KeySource`.

    :param path: the store file (``HostPaths.keys_file``).
    :param kdf: scrypt parameters for a new store and for :meth:`rotate`; an existing
        store is opened with the parameters in its header.
    :param lock_timeout: seconds to wait for another process's write.
    :param audit: called as ``audit(kind, plugin=..., **data)`` for every access.
    :param redactor: told every secret value, so logs and events can hide it.
    """

    def __init__(
        self,
        path: Path,
        *,
        kdf: ScryptParams = DEFAULT_KDF,
        lock_timeout: float = 10.0,
        audit: AuditFn | None = None,
        redactor: Redactor | None = None,
    ) -> None:
        problem = kdf.problem()
        if problem is not None:
            raise KeyStoreError(
                f"scrypt parameters refused: {problem}",
                hint="use the defaults ([keys] scrypt_log2_n = 17, scrypt_r = 8, scrypt_p = 1)",
            )
        self.path = Path(path)
        self.kdf = kdf
        self.lock_timeout = lock_timeout
        self._audit = audit
        self._redactor = redactor
        self._mutex = threading.RLock()
        self._passphrase: str | None = None
        self._key: DerivedKey | None = None
        self._cache: tuple[bytes, Payload] | None = None
        #: Why the last unlock failed (shown in KeyStoreLocked errors).
        self.locked_reason: str | None = None

    # -- state ---------------------------------------------------------------------
    def bind(self, *, audit: AuditFn | None = None, redactor: Redactor | None = None) -> None:
        """Set where audit events go and which redactor learns the values."""
        with self._mutex:
            if audit is not None:
                self._audit = audit
            if redactor is not None:
                self._redactor = redactor
                if self._cache is not None:
                    self._register(self._cache[1])

    @property
    def exists(self) -> bool:
        """True when the store file exists."""
        return self.path.exists()

    @property
    def unlocked(self) -> bool:
        """True when a passphrase is known (and was verified, if the file exists)."""
        return self._passphrase is not None

    def unlock(self, passphrase: str) -> None:
        """Verify ``passphrase`` against the file (if any) and keep it for later.

        Raises :class:`~llf_host.KeyStoreCorrupt` for a wrong passphrase or a damaged
        file; the store stays locked then.
        """
        if not passphrase:
            raise KeyStoreError("the passphrase is empty", hint="use a non-empty passphrase")
        with self._mutex:
            previous = self._passphrase, self._key, self._cache
            self._passphrase, self._key, self._cache = passphrase, None, None
            try:
                self._current()
            except BaseException as exc:
                self._passphrase, self._key, self._cache = previous
                self.locked_reason = getattr(exc, "message", None) or type(exc).__name__
                raise
            self.locked_reason = None

    def lock(self) -> None:
        """Forget the passphrase, the derived key and the decrypted content."""
        with self._mutex:
            self._passphrase = None
            self._key = None
            self._cache = None

    async def aclose(self) -> None:
        """Lock the store (the host calls this when it stops)."""
        self.lock()

    def _require_unlocked(self, *, plugin: str | None = None, name: str | None = None) -> None:
        if self._passphrase is None:
            why = f" ({self.locked_reason})" if self.locked_reason else ""
            raise KeyStoreLocked(
                f"the key store is locked{why}: {LOCKED_HINT}",
                hint=LOCKED_HINT,
                path=str(self.path),
                plugin=plugin,
                key=name,
            )

    # -- reading ---------------------------------------------------------------------
    def _register(self, payload: Payload) -> None:
        if self._redactor is not None:
            for name, stored in payload.keys.items():
                self._redactor.register(name, stored.value)

    def _decrypt(self, blob: bytes) -> Payload:
        header, header_bytes, ciphertext = _format.parse(blob, str(self.path))
        key = self._key
        if key is None or not key.matches(header):
            assert self._passphrase is not None
            key = _format.derive(self._passphrase, header.salt_bytes(), header.kdf.params)
        payload = _format.decrypt(header, header_bytes, ciphertext, key, str(self.path))
        self._key = key
        return payload

    def _current(self) -> Payload:
        """The store's content as on disk now (empty when there is no file)."""
        found = read_file(self.path)
        if found is None:
            return Payload()
        blob, _signature = found
        if self._cache is not None and self._cache[0] == blob:
            return self._cache[1]
        payload = self._decrypt(blob)
        self._cache = (blob, payload)
        self._register(payload)
        return payload

    def list(self) -> builtins.list[KeyInfo]:
        """Every key's name and dates, sorted by name (needs the store unlocked)."""
        with self._mutex:
            self._require_unlocked()
            payload = self._current()
        return [
            KeyInfo(name=name, created=stored.created, updated=stored.updated)
            for name, stored in sorted(payload.keys.items())
        ]

    def names(self) -> builtins.list[str]:
        """Every key name, sorted (the ``export-names`` operation)."""
        return [info.name for info in self.list()]

    def read_key(self, name: str, *, plugin: str) -> str:
        """The secret ``name`` for ``plugin`` (audited as ``key.read``; never logged).

        The caller (:meth:`llf_host.PluginContext.key`) has already checked that the
        plugin's manifest names the key.
        """
        if not self.exists:
            self._emit("key.read", plugin=plugin, name=name, outcome="missing")
            raise KeyNotFoundError(
                f"no key named {name!r} is stored (there is no key store yet)",
                hint=f"run `llf-host keys set {name}`",
                key=name,
                plugin=plugin,
            )
        with self._mutex:
            if self._passphrase is None:
                self._emit("key.read", plugin=plugin, name=name, outcome="locked")
                self._require_unlocked(plugin=plugin, name=name)
            stored = self._current().keys.get(name)
        if stored is None:
            self._emit("key.read", plugin=plugin, name=name, outcome="missing")
            raise KeyNotFoundError(
                f"no key named {name!r} is stored",
                hint=f"run `llf-host keys set {name}`",
                key=name,
                plugin=plugin,
            )
        self._emit("key.read", plugin=plugin, name=name, outcome="ok")
        return stored.value

    # -- writing -----------------------------------------------------------------------
    def _new_key(self, passphrase: str, kdf: ScryptParams) -> DerivedKey:
        return _format.derive(passphrase, _format.new_salt(), kdf)

    def _write(self, payload: Payload, key: DerivedKey) -> None:
        blob = _format.encrypt(payload, key)
        atomic_write(self.path, blob)
        self._key = key
        self._cache = (blob, payload)
        self._register(payload)

    def _mutate(self, change: Callable[[dict[str, StoredKey]], R], *, force: bool = False) -> R:
        """Apply ``change`` to a copy of the current keys under the lock and write."""
        with self._mutex:
            self._require_unlocked()
            assert self._passphrase is not None
            with locked(self.path, self.lock_timeout):
                current = self._current()
                keys = dict(current.keys)
                result = change(keys)
                if keys == current.keys and self.exists and not force:
                    return result
                key = self._key if self._key is not None and self.exists else None
                if key is None:
                    key = self._new_key(self._passphrase, self.kdf)
                self._write(Payload(keys=keys), key)
            return result

    def create(self) -> bool:
        """Write an empty store if there is none yet; True when one was created."""
        if self.exists:
            self._require_unlocked()
            return False
        self._mutate(lambda keys: None, force=not self.exists)
        return True

    def set(self, name: str, value: str, *, source: str = "api") -> KeyInfo:
        """Store ``value`` as ``name`` (created or replaced); audited as ``key.write``."""
        check_name(name)
        check_value(name, value)
        created = self.set_many({name: value}, source=source)
        return created[0]

    def set_many(
        self, items: Mapping[str, str], *, overwrite: bool = True, source: str = "api"
    ) -> builtins.list[KeyInfo]:
        """Store several keys in one write; returns what was written (skips existing
        names unless ``overwrite``)."""
        for name, value in items.items():
            check_name(name)
            check_value(name, value)
        now = time.time()
        written: builtins.list[tuple[KeyInfo, bool]] = []

        def change(keys: dict[str, StoredKey]) -> None:
            for name, value in items.items():
                old = keys.get(name)
                if old is not None and not overwrite:
                    continue
                created = old.created if old is not None else now
                keys[name] = StoredKey(value=value, created=created, updated=now)
                written.append((KeyInfo(name=name, created=created, updated=now), old is None))

        self._mutate(change)
        for info, is_new in written:
            self._emit(
                "key.write", name=info.name, action="create" if is_new else "update", source=source
            )
        return [info for info, _ in written]

    def delete(self, name: str, *, source: str = "api") -> None:
        """Remove ``name``; :class:`~llf_host.KeyNotFoundError` when it is not stored."""
        check_name(name)

        def change(keys: dict[str, StoredKey]) -> None:
            if keys.pop(name, None) is None:
                raise KeyNotFoundError(
                    f"no key named {name!r} is stored",
                    hint="run `llf-host keys list` to see the stored names",
                    key=name,
                )

        self._mutate(change)
        self._emit("key.delete", name=name, source=source)

    def rotate(
        self, new_passphrase: str, *, kdf: ScryptParams | None = None, source: str = "api"
    ) -> int:
        """Re-encrypt every key under ``new_passphrase`` (new salt); returns the key count."""
        if not new_passphrase:
            raise KeyStoreError("the new passphrase is empty", hint="use a non-empty passphrase")
        params = kdf or self.kdf
        problem = params.problem()
        if problem is not None:
            raise KeyStoreError(f"scrypt parameters refused: {problem}", hint="use the defaults")
        with self._mutex:
            self._require_unlocked()
            with locked(self.path, self.lock_timeout):
                payload = self._current()
                key = self._new_key(new_passphrase, params)
                self._write(Payload(keys=dict(payload.keys)), key)
                self._passphrase = new_passphrase
        self._emit("key.rotate", count=len(payload.keys), source=source)
        return len(payload.keys)

    # -- helpers ---------------------------------------------------------------------------
    def _emit(self, kind: str, *, plugin: str | None = None, **data: Any) -> None:
        if self._audit is None:
            return
        try:
            self._audit(kind, plugin=plugin, **data)
        except Exception:
            log.exception("audit of %s failed", kind)

    def describe(self) -> dict[str, Any]:
        """Non-secret facts for ``llf-host keys path``: path, state, format, KDF."""
        info: dict[str, Any] = {
            "path": str(self.path),
            "exists": self.exists,
            "unlocked": self.unlocked,
        }
        found = read_file(self.path)
        if found is not None:
            try:
                header, _, _ = _format.parse(found[0], str(self.path))
            except KeyStoreError as exc:
                info["problem"] = exc.message
            else:
                info.update(_format.describe(header))
        return info

    def __repr__(self) -> str:
        state = "unlocked" if self.unlocked else "locked"
        return f"<KeyStore {self.path} {state}>"
