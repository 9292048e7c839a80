"""The hash chain: how a record is serialised and hashed.

A record is one JSON object per line, in canonical form: keys sorted, no
whitespace, UTF-8 (non-ASCII characters written as themselves). Its ``hash`` is
the SHA-256 (hex) of the canonical JSON of the record *without* the ``hash``
key, and its ``prev`` is the ``hash`` of the record before it (64 zeros for the
first). ``seq`` counts records from 1. Changing, removing, inserting or
reordering any record therefore breaks the chain at that line; docs/audit.md
describes the format for independent verifiers (``llf-host audit verify`` is
one).
"""

from __future__ import annotations

import hashlib
import json
import math
from typing import Any

#: ``prev`` of the first record.
GENESIS = "0" * 64
#: Version of the record format, stored in every record as ``v``.
RECORD_VERSION = 1


def _plain(value: Any) -> Any:
    """JSON-safe values only: non-finite floats and unknown objects become strings."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_plain(v) for v in value]
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:  # lone surrogates cannot be written as UTF-8
            return value.encode("utf-8", "replace").decode("utf-8")
        return value
    if value is None or isinstance(value, int | float | bool):
        return value
    return _plain(str(value))


def canonical(record: dict[str, Any]) -> str:
    """The canonical JSON text of ``record`` (no newline)."""
    return json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def record_hash(record: dict[str, Any]) -> str:
    """SHA-256 (hex) of the canonical JSON of ``record`` without its ``hash`` key."""
    body = {k: v for k, v in record.items() if k != "hash"}
    return hashlib.sha256(canonical(body).encode("utf-8")).hexdigest()


def seal(
    *,
    seq: int,
    prev: str,
    time: float,
    kind: str,
    plugin: str | None,
    session: str | None,
    pid: int,
    data: dict[str, Any],
) -> dict[str, Any]:
    """A complete record chained to ``prev``, with its ``hash``."""
    record: dict[str, Any] = {
        "v": RECORD_VERSION,
        "seq": seq,
        "prev": prev,
        "time": time,
        "kind": kind,
        "plugin": plugin,
        "session": session,
        "pid": pid,
        "data": _plain(data),
    }
    record["hash"] = record_hash(record)
    return record
