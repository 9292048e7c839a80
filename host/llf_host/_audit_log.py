"""Reading the audit log: verify its hash chain, follow it, search it.

The log is written by the built-in ``audit_log`` plugin: JSON Lines, one record
per line in canonical JSON (keys sorted, no whitespace, UTF-8), each record's
``hash`` the SHA-256 of the record without ``hash``, and each ``prev`` the hash of
the record before (64 zeros for the first); ``seq`` counts from 1. The writer
keeps ``<log>.head`` with the last record's ``seq`` and ``hash``. This module
re-implements the format from that description (docs/audit.md) rather than
importing the plugin, so it checks the plugin as an independent verifier would.

:func:`verify_log` reads the whole file once, streaming, and reports every
problem with its line number: an edited record, a malformed or partial line,
missing (deleted) or out-of-order records, a broken link, and a log that ends
before the head says it should (truncated).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import Any
from typing import Final
from typing import Literal

from ._config import Config
from ._paths import HostPaths

__all__ = [
    "GENESIS",
    "PLUGIN_NAME",
    "Problem",
    "ProblemKind",
    "VerifyReport",
    "canonical",
    "default_log_path",
    "head_path",
    "read_records",
    "record_hash",
    "verify_log",
]

#: ``prev`` of the first record.
GENESIS: Final = "0" * 64
#: The plugin that writes the log (its config section holds ``path``).
PLUGIN_NAME: Final = "audit_log"

ProblemKind = Literal[
    "malformed",
    "partial",
    "edited",
    "missing",
    "out_of_order",
    "broken_link",
    "truncated",
    "head_mismatch",
    "beyond_head",
]

_REQUIRED: Final[dict[str, type | tuple[type, ...]]] = {
    "seq": int,
    "prev": str,
    "hash": str,
    "kind": str,
    "time": (int, float),
    "data": dict,
}


def canonical(record: dict[str, Any]) -> str:
    """The canonical JSON text of ``record``."""
    return json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def record_hash(record: dict[str, Any]) -> str:
    """SHA-256 (hex) of the canonical JSON of ``record`` without its ``hash``."""
    body = {k: v for k, v in record.items() if k != "hash"}
    return hashlib.sha256(canonical(body).encode("utf-8")).hexdigest()


def head_path(path: Path) -> Path:
    """The head file of the log at ``path``."""
    return path.with_name(path.name + ".head")


def default_log_path(paths: HostPaths, config: Config) -> Path:
    """Where the ``audit_log`` plugin writes: its ``path`` setting or its data folder."""
    data_dir = paths.plugin_data_dir(PLUGIN_NAME)
    raw = config.plugin_section(PLUGIN_NAME).get("path")
    if raw:
        path = Path(str(raw)).expanduser()
        return path if path.is_absolute() else data_dir / path
    return data_dir / "audit.jsonl"


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the log, at a line (1-based; ``lines + 1`` = past the end)."""

    line: int
    kind: ProblemKind
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.kind.replace('_', ' ')}: {self.message}"


@dataclass
class VerifyReport:
    """The outcome of :func:`verify_log`."""

    path: Path
    lines: int = 0
    records: int = 0
    last_seq: int = 0
    last_hash: str = GENESIS
    head: dict[str, Any] | None = None
    problems: list[Problem] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when the chain is intact from the first record to the head."""
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary."""
        return {
            "path": str(self.path),
            "ok": self.ok,
            "lines": self.lines,
            "records": self.records,
            "last_seq": self.last_seq,
            "last_hash": self.last_hash,
            "head": self.head,
            "problems": [
                {"line": p.line, "kind": p.kind, "message": p.message} for p in self.problems
            ],
            "warnings": list(self.warnings),
        }


def _shape_error(record: Any) -> str | None:
    if not isinstance(record, dict):
        return f"a JSON {type(record).__name__}, not a record object"
    for name, wanted in _REQUIRED.items():
        value = record.get(name)
        if name not in record:
            return f"the field {name!r} is missing"
        if isinstance(value, bool) or not isinstance(value, wanted):
            return f"the field {name!r} has the wrong type"
    return None


@dataclass
class _Chain:
    """State carried from one record to the next while verifying."""

    expected_seq: int | None = 1
    prev: str | None = GENESIS
    last_line: int = 0
    #: line of each seq seen (to point at the first record past the head).
    lines_by_seq: dict[int, int] = field(default_factory=dict)
    hashes_by_seq: dict[int, str] = field(default_factory=dict)


def _check_record(line: int, text: str, chain: _Chain, report: VerifyReport) -> None:
    try:
        record = json.loads(text)
    except json.JSONDecodeError as exc:
        report.problems.append(Problem(line, "malformed", f"not a JSON record ({exc.msg})"))
        chain.expected_seq = chain.prev = None  # resynchronise on the next good record
        return
    except RecursionError:
        report.problems.append(Problem(line, "malformed", "not a record (nested too deeply)"))
        chain.expected_seq = chain.prev = None
        return
    shape = _shape_error(record)
    if shape is not None:
        report.problems.append(Problem(line, "malformed", shape))
        chain.expected_seq = chain.prev = None
        return
    seq, kind = record["seq"], record["kind"]
    what = f"seq {seq}, {kind}"
    if canonical(record) != text:
        report.problems.append(
            Problem(line, "edited", f"record ({what}) is not in canonical form: it was rewritten")
        )
    elif record_hash(record) != record["hash"]:
        report.problems.append(
            Problem(line, "edited", f"record ({what}) does not match its hash: it was changed")
        )
    elif chain.expected_seq is not None and seq != chain.expected_seq:
        if seq > chain.expected_seq:
            missing = (
                f"seq {chain.expected_seq}"
                if seq == chain.expected_seq + 1
                else f"seq {chain.expected_seq} to {seq - 1}"
            )
            report.problems.append(
                Problem(
                    line,
                    "missing",
                    f"expected seq {chain.expected_seq}, found {seq}: {missing} deleted or "
                    "moved before this line",
                )
            )
        else:
            report.problems.append(
                Problem(
                    line,
                    "out_of_order",
                    f"seq {seq} follows seq {chain.expected_seq - 1}: records were reordered, "
                    "duplicated or inserted here",
                )
            )
            # An extra or displaced record: the records after it still chain to
            # the one before it, so keep checking against that one.
            report.records += 1
            return
    elif chain.prev is not None and record["prev"] != chain.prev:
        report.problems.append(
            Problem(
                line,
                "broken_link",
                f"record ({what}) does not chain to the record before it: that record was "
                "replaced, or this one inserted",
            )
        )
    chain.expected_seq = seq + 1
    chain.prev = record["hash"]
    chain.last_line = line
    chain.lines_by_seq.setdefault(seq, line)
    chain.hashes_by_seq.setdefault(seq, record["hash"])
    report.records += 1
    report.last_seq = seq
    report.last_hash = record["hash"]


def _read_head(path: Path, report: VerifyReport) -> dict[str, Any] | None:
    head_file = head_path(path)
    try:
        head = json.loads(head_file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        report.warnings.append(
            f"no head file ({head_file.name}): records cut from the end cannot be detected"
        )
        return None
    except (OSError, ValueError) as exc:
        report.problems.append(
            Problem(report.lines + 1, "head_mismatch", f"the head file is unreadable: {exc}")
        )
        return None
    if not (
        isinstance(head, dict)
        and isinstance(head.get("seq"), int)
        and isinstance(head.get("hash"), str)
    ):
        report.problems.append(
            Problem(report.lines + 1, "head_mismatch", "the head file is not {seq, hash}")
        )
        return None
    return head


def _check_head(path: Path, chain: _Chain, report: VerifyReport) -> None:
    head = _read_head(path, report)
    report.head = head
    if head is None:
        return
    end = report.lines + 1
    head_seq, head_hash = head["seq"], head["hash"]
    if head_seq > report.last_seq:
        count = head_seq - report.last_seq
        report.problems.append(
            Problem(
                end,
                "truncated",
                f"the log ends at seq {report.last_seq} but the head says {head_seq}: "
                f"{count} record(s) missing at the end",
            )
        )
    elif head_seq == report.last_seq:
        if head_hash != report.last_hash:
            report.problems.append(
                Problem(
                    chain.last_line,
                    "head_mismatch",
                    f"the last record (seq {head_seq}) is not the one the head recorded: "
                    "it was replaced",
                )
            )
    else:
        line = chain.lines_by_seq.get(head_seq + 1, end)
        if chain.hashes_by_seq.get(head_seq) not in (None, head_hash):
            line = chain.lines_by_seq.get(head_seq, line)
        report.problems.append(
            Problem(
                line,
                "beyond_head",
                f"records after seq {head_seq} are not covered by the head: appended by "
                "something other than the audit log writer (or a crash before the head "
                "was updated)",
            )
        )


def verify_log(path: Path) -> VerifyReport:
    """Check every record of the log at ``path`` and its head; never raises for content."""
    report = VerifyReport(path=path)
    chain = _Chain()
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            report.lines = number
            if not raw.endswith(b"\n"):
                report.problems.append(
                    Problem(number, "partial", "the last line is incomplete (cut off mid-record)")
                )
                break
            try:
                text = raw[:-1].decode("utf-8")
            except UnicodeDecodeError:
                report.problems.append(Problem(number, "malformed", "not valid UTF-8"))
                chain.expected_seq = chain.prev = None
                continue
            if not text.strip():
                report.problems.append(Problem(number, "malformed", "an empty line"))
                continue
            _check_record(number, text, chain, report)
    _check_head(path, chain, report)
    report.problems.sort(key=lambda p: p.line)
    return report


def read_records(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, record) for every readable record, in file order."""
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.endswith(b"\n"):
                return
            try:
                record = json.loads(raw)
            except (ValueError, RecursionError):
                continue
            if isinstance(record, dict):
                yield number, record
