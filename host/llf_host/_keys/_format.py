"""The key store file format (version 1): pure encoding and decoding, no I/O.

A key store file is two ASCII lines::

    {"check":"…","cipher":"AES-256-GCM","format":"llf-host-keys","kdf":{…},"nonce":"…","version":1}
    <base64 of the AES-GCM ciphertext and its 16-byte tag>

* Line 1, the **header**, is compact JSON with sorted keys. ``kdf`` holds the
  scrypt parameters and the salt: ``{"name":"scrypt","n":131072,"r":8,"p":1,
  "salt":"<16 random bytes, base64>"}``. ``nonce`` is 12 random bytes (new for
  every write). ``check`` is 16 bytes that tell a wrong passphrase apart from a
  damaged file (an HMAC of a constant under a second key derived with the first).
* Line 2 is the ciphertext of the **payload**. The exact bytes of line 1 are the
  AES-GCM associated data, so any change to the header is detected as well.
* The payload is JSON, ``{"keys": {NAME: {"value", "created", "updated"}}}``,
  padded with spaces to a multiple of 512 bytes so the file size does not tell the
  length of the secrets.

scrypt derives 64 bytes from the passphrase: the first 32 are the AES-256 key,
the last 32 the key of the ``check`` HMAC.

``cryptography`` is imported by the functions that derive, encrypt and decrypt,
not with this module: a host whose key store stays locked never loads it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
from typing import Any
from typing import final

import msgspec

from .._errors import KeyStoreCorrupt

__all__ = [
    "DEFAULT_KDF",
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "DerivedKey",
    "Header",
    "Payload",
    "ScryptParams",
    "StoredKey",
    "decrypt",
    "derive",
    "encrypt",
    "parse",
]

FORMAT_NAME = "llf-host-keys"
FORMAT_VERSION = 1
CIPHER = "AES-256-GCM"
_PAD = 512
_CHECK_CONTEXT = b"llf-host-keys passphrase check v1"
#: Bounds on header KDF parameters, so a tampered header cannot ask for 64 GiB.
_MIN_LOG2_N, _MAX_LOG2_N = 10, 20
_MAX_R, _MAX_P = 32, 16
_MAX_MEMORY = 1 << 30


class ScryptParams(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """scrypt cost parameters: ``n`` (CPU/memory cost, a power of two), ``r``, ``p``.

    Memory used is ``128 * n * r`` bytes (128 MiB for the default).
    """

    n: int = 1 << 17
    r: int = 8
    p: int = 1

    def problem(self) -> str | None:
        """Why these parameters are refused, or ``None`` when they are fine."""
        if self.n < 2 or self.n & (self.n - 1):
            return f"n={self.n} is not a power of two"
        log2_n = self.n.bit_length() - 1
        if not _MIN_LOG2_N <= log2_n <= _MAX_LOG2_N:
            return f"n=2^{log2_n} is outside 2^{_MIN_LOG2_N}..2^{_MAX_LOG2_N}"
        if not 1 <= self.r <= _MAX_R:
            return f"r={self.r} is outside 1..{_MAX_R}"
        if not 1 <= self.p <= _MAX_P:
            return f"p={self.p} is outside 1..{_MAX_P}"
        if 128 * self.n * self.r > _MAX_MEMORY:
            return f"n*r needs {128 * self.n * self.r >> 20} MiB, more than 1 GiB"
        return None


#: scrypt N=2^17, r=8, p=1: OWASP's recommended minimum; ~0.3 s and 128 MiB per unlock.
DEFAULT_KDF = ScryptParams()


class KdfHeader(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The ``kdf`` object of the header."""

    name: str
    n: int
    r: int
    p: int
    salt: str

    @property
    def params(self) -> ScryptParams:
        """The cost parameters alone."""
        return ScryptParams(n=self.n, r=self.r, p=self.p)


class Header(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The first line of a key store file."""

    format: str
    version: int
    cipher: str
    kdf: KdfHeader
    nonce: str
    check: str

    def salt_bytes(self) -> bytes:
        """The decoded scrypt salt."""
        return _b64(self.kdf.salt)


class StoredKey(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One secret and when it was created and last changed (epoch seconds)."""

    value: str
    created: float
    updated: float


class Payload(msgspec.Struct, forbid_unknown_fields=True):
    """The decrypted content of a key store."""

    keys: dict[str, StoredKey] = msgspec.field(default_factory=dict)


@final
class DerivedKey:
    """The AES key and check value derived from a passphrase for one salt."""

    __slots__ = ("aes_key", "check", "kdf", "salt")

    def __init__(self, salt: bytes, kdf: ScryptParams, aes_key: bytes, check: bytes) -> None:
        self.salt = salt
        self.kdf = kdf
        self.aes_key = aes_key
        self.check = check

    def matches(self, header: Header) -> bool:
        """True when this key was derived for ``header``'s salt and parameters."""
        return self.salt == header.salt_bytes() and self.kdf == header.kdf.params

    def __repr__(self) -> str:
        return f"<DerivedKey n={self.kdf.n} r={self.kdf.r} p={self.kdf.p}>"


def _b64(text: str) -> bytes:
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("not base64") from None
    if base64.b64encode(raw).decode("ascii") != text:
        raise ValueError("not canonical base64")
    return raw


def _b64e(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def derive(passphrase: str, salt: bytes, kdf: ScryptParams) -> DerivedKey:
    """Run scrypt: the slow step (about 0.3 s with :data:`DEFAULT_KDF`)."""
    from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

    secret = Scrypt(salt=salt, length=64, n=kdf.n, r=kdf.r, p=kdf.p).derive(
        passphrase.encode("utf-8")
    )
    check = hmac.new(secret[32:], _CHECK_CONTEXT, hashlib.sha256).digest()[:16]
    return DerivedKey(salt, kdf, secret[:32], check)


def new_salt() -> bytes:
    """16 random bytes."""
    return os.urandom(16)


def _corrupt(path: str, reason: str, problem: str, hint: str) -> KeyStoreCorrupt:
    return KeyStoreCorrupt(
        f"the key store {path} {problem}; nothing was changed", hint=hint, path=path, reason=reason
    )


_DAMAGED_HINT = (
    "restore the file from a backup, or move it away and set the keys again "
    "(`llf-host keys set NAME`)"
)


def parse(blob: bytes, path: str) -> tuple[Header, bytes, bytes]:
    """Split a file into (header, header bytes, ciphertext); check its structure.

    Raises :class:`KeyStoreCorrupt` (``reason``: ``truncated``, ``damaged``,
    ``unsupported``) without deriving any key.
    """
    if not blob:
        raise _corrupt(path, "truncated", "is empty (truncated)", _DAMAGED_HINT)
    if not blob.endswith(b"\n") or blob.count(b"\n") != 2:
        reason = "truncated" if blob.count(b"\n") < 2 else "damaged"
        raise _corrupt(path, reason, f"is {reason}: it does not have two lines", _DAMAGED_HINT)
    header_bytes, body, _ = blob.split(b"\n")
    try:
        raw_header = json.loads(header_bytes.decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        raise _corrupt(path, "damaged", "has a damaged header", _DAMAGED_HINT) from None
    if not isinstance(raw_header, dict) or raw_header.get("format") != FORMAT_NAME:
        raise _corrupt(path, "damaged", "is not an llf-host key store", _DAMAGED_HINT)
    version = raw_header.get("version")
    if version != FORMAT_VERSION:
        raise _corrupt(
            path,
            "unsupported",
            f"has format version {version!r}, this llf-host reads version {FORMAT_VERSION}",
            "upgrade llf-host to read it, or restore a backup written by this version",
        )
    try:
        header = msgspec.convert(raw_header, Header)
        problem = header.kdf.params.problem()
        if header.kdf.name != "scrypt" or header.cipher != CIPHER:
            problem = f"unknown kdf/cipher {header.kdf.name}/{header.cipher}"
        if problem is not None:
            raise ValueError(problem)
        if len(header.salt_bytes()) < 16 or len(_b64(header.nonce)) != 12:
            raise ValueError("bad salt or nonce")
        if len(_b64(header.check)) != 16:
            raise ValueError("bad check value")
        ciphertext = _b64(body.decode("ascii"))
    except (msgspec.ValidationError, ValueError, UnicodeDecodeError) as exc:
        raise _corrupt(
            path, "damaged", f"has a damaged header or body ({exc})", _DAMAGED_HINT
        ) from None
    if len(ciphertext) < 16 + _PAD or (len(ciphertext) - 16) % _PAD:
        raise _corrupt(path, "truncated", "is truncated", _DAMAGED_HINT)
    return header, header_bytes, ciphertext


def decrypt(
    header: Header, header_bytes: bytes, ciphertext: bytes, key: DerivedKey, path: str
) -> Payload:
    """Authenticate and decrypt; wrong passphrase and tampering raise KeyStoreCorrupt."""
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    if not hmac.compare_digest(key.check, _b64(header.check)):
        raise _corrupt(
            path,
            "wrong_passphrase",
            "cannot be opened: wrong passphrase (or its header was modified)",
            "check the passphrase (LLF_HOST_PASSPHRASE, the OS keyring entry from "
            "`llf-host keys unlock`, or what you typed); if it was changed with "
            "`llf-host keys rotate`, use the new one",
        )
    try:
        plain = AESGCM(key.aes_key).decrypt(_b64(header.nonce), ciphertext, header_bytes)
    except InvalidTag:
        raise _corrupt(
            path,
            "tampered",
            "failed authentication: it was modified or damaged after it was written",
            _DAMAGED_HINT,
        ) from None
    try:
        return msgspec.json.decode(plain, type=Payload)
    except msgspec.DecodeError as exc:  # authenticated, so only a bug writes this
        raise _corrupt(
            path, "damaged", f"holds an unreadable payload ({exc})", _DAMAGED_HINT
        ) from None


def encrypt(payload: Payload, key: DerivedKey) -> bytes:
    """The complete file content for ``payload`` under ``key`` (fresh nonce)."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    plain = msgspec.json.encode(payload)
    plain += b" " * (-len(plain) % _PAD)
    nonce = os.urandom(12)
    header = {
        "check": _b64e(key.check),
        "cipher": CIPHER,
        "format": FORMAT_NAME,
        "kdf": {
            "n": key.kdf.n,
            "name": "scrypt",
            "p": key.kdf.p,
            "r": key.kdf.r,
            "salt": _b64e(key.salt),
        },
        "nonce": _b64e(nonce),
        "version": FORMAT_VERSION,
    }
    header_bytes = json.dumps(header, sort_keys=True, separators=(",", ":")).encode("ascii")
    ciphertext = AESGCM(key.aes_key).encrypt(nonce, plain, header_bytes)
    return header_bytes + b"\n" + _b64e(ciphertext).encode("ascii") + b"\n"


def describe(header: Header) -> dict[str, Any]:
    """The non-secret facts of a header (for ``llf-host keys path``/debug output)."""
    return {
        "format": header.format,
        "version": header.version,
        "cipher": header.cipher,
        "kdf": {"name": header.kdf.name, "n": header.kdf.n, "r": header.kdf.r, "p": header.kdf.p},
    }
