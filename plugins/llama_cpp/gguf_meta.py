"""Reading a GGUF file's header metadata without llama.cpp.

Listing models and choosing load settings (context size, memory estimate) need a
few header values (architecture, trained context length, layer and head
counts) before any model is loaded. The header is a sequence of typed key/value
pairs; the keys we want come before the big tokenizer arrays, so
:func:`read_gguf_metadata` stops as soon as it has them and never reads tensors.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any
from typing import BinaryIO

__all__ = ["GGUFError", "read_gguf_metadata"]

_MAGIC = b"GGUF"
_SCALARS: dict[int, tuple[str, int]] = {
    0: ("<B", 1),
    1: ("<b", 1),
    2: ("<H", 2),
    3: ("<h", 2),
    4: ("<I", 4),
    5: ("<i", 4),
    6: ("<f", 4),
    7: ("<?", 1),
    10: ("<Q", 8),
    11: ("<q", 8),
    12: ("<d", 8),
}
_STRING = 8
_ARRAY = 9
#: Refuse absurd headers (a corrupt file must not make us read gigabytes).
_MAX_KV = 100_000
_MAX_STRING = 16 * 1024 * 1024


class GGUFError(ValueError):
    """The file is not a readable GGUF file."""


def _read(fh: BinaryIO, size: int) -> bytes:
    data = fh.read(size)
    if len(data) != size:
        raise GGUFError("unexpected end of file in the GGUF header")
    return data


def _read_string(fh: BinaryIO) -> str:
    (length,) = struct.unpack("<Q", _read(fh, 8))
    if length > _MAX_STRING:
        raise GGUFError(f"string of {length} bytes in the GGUF header")
    return _read(fh, length).decode("utf-8", errors="replace")


def _read_value(fh: BinaryIO, vtype: int, keep: bool) -> Any:
    if vtype in _SCALARS:
        fmt, size = _SCALARS[vtype]
        return struct.unpack(fmt, _read(fh, size))[0]
    if vtype == _STRING:
        return _read_string(fh)
    if vtype == _ARRAY:
        (etype,) = struct.unpack("<I", _read(fh, 4))
        (count,) = struct.unpack("<Q", _read(fh, 8))
        if etype in _SCALARS:
            fmt, size = _SCALARS[etype]
            if not keep:
                fh.seek(size * count, 1)
                return None
            raw = _read(fh, size * count)
            return list(struct.unpack("<" + fmt[1] * count, raw))
        values = [_read_value(fh, etype, keep) for _ in range(count)]
        return values if keep else None
    raise GGUFError(f"unknown GGUF value type {vtype}")


def read_gguf_metadata(path: Path, *, want_template: bool = False) -> dict[str, Any]:
    """Header values of the GGUF file at ``path``.

    Reads every key until the tokenizer's vocabulary arrays begin (unless
    ``want_template``, which reads on to find ``tokenizer.chat_template``).
    Arrays are kept only when short (per-layer head counts); long ones are
    skipped. Raises :class:`GGUFError` when the file is not GGUF.
    """
    out: dict[str, Any] = {}
    with path.open("rb") as fh:
        if _read(fh, 4) != _MAGIC:
            raise GGUFError(f"{path.name} is not a GGUF file (bad magic)")
        (version,) = struct.unpack("<I", _read(fh, 4))
        if version < 2:
            raise GGUFError(f"{path.name} uses GGUF version {version}; version 2+ is needed")
        _tensors, n_kv = struct.unpack("<QQ", _read(fh, 16))
        if n_kv > _MAX_KV:
            raise GGUFError(f"{path.name} claims {n_kv} metadata keys")
        out["gguf.version"] = version
        for _ in range(n_kv):
            key = _read_string(fh)
            if key == "tokenizer.ggml.tokens" and not want_template:
                break
            (vtype,) = struct.unpack("<I", _read(fh, 4))
            keep = not key.startswith("tokenizer.ggml.") or vtype != _ARRAY
            value = _read_value(fh, vtype, keep)
            if value is not None:
                out[key] = value
            if want_template and key == "tokenizer.chat_template":
                break
    return out
