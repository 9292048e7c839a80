"""Redaction: keep secret values out of logs, errors, audit events and exports.

A :class:`Redactor` learns the secret values the host knows (the key store
registers every value when it is unlocked and whenever a key is set or read) and
replaces each of them, and its obvious encodings, with ``[REDACTED:NAME]``::

    redactor = Redactor()
    redactor.register("OPENAI_API_KEY", "sk-abc123...")
    redactor.redact_text("auth: Bearer sk-abc123...")  # 'auth: Bearer [REDACTED:OPENAI_API_KEY]'

Encodings covered: the value itself, URL-encoded (``quote`` and ``quote_plus``),
JSON-escaped, and base64 (standard and URL-safe, at every byte alignment, so the
value is found inside a longer base64 blob such as ``Basic base64(user:secret)``).

Values shorter than :data:`MIN_SECRET_LENGTH` characters are not redacted: a
three-letter "secret" would blank out ordinary words everywhere.

Logs: :class:`RedactingFilter` rewrites log records. Because a filter on a logger
does not see records from its child loggers, :func:`install_log_redaction` also
wraps the log record factory, so every record (from ``llf.*``, ``httpx`` or a
plugin's own logger) is redacted when it is created, while a redactor is active.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import threading
import traceback
import weakref
from collections.abc import Callable
from typing import Any
from typing import TypeVar
from typing import final
from urllib.parse import quote
from urllib.parse import quote_plus

import msgspec

from ._errors import LLMError
from ._types import AuditEvent

__all__ = [
    "MIN_SECRET_LENGTH",
    "RedactingFilter",
    "Redactor",
    "install_log_redaction",
    "placeholder",
    "uninstall_log_redaction",
]

T = TypeVar("T")

#: Shorter values are not redacted (they would match ordinary text everywhere).
MIN_SECRET_LENGTH = 6
#: Base64 fragments shorter than this are not searched for (too many false hits).
_MIN_FRAGMENT = 6
#: Nesting depth after which containers are returned unchanged (cycles, bombs).
_MAX_DEPTH = 64


def placeholder(name: str) -> str:
    """What a secret named ``name`` is replaced with."""
    return f"[REDACTED:{name}]"


def _base64_fragments(raw: bytes) -> set[str]:
    """Base64 text that any encoding of a blob containing ``raw`` must contain.

    For each of the three byte alignments, keep only the characters whose six
    bits all come from ``raw`` (the edges depend on the neighbouring bytes).
    """
    fragments: set[str] = set()
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + raw).decode("ascii").rstrip("=")
        start = -(-8 * offset // 6)
        end = (8 * (offset + len(raw))) // 6
        fragment = encoded[start:end]
        if len(fragment) >= _MIN_FRAGMENT:
            fragments.add(fragment)
            fragments.add(fragment.replace("+", "-").replace("/", "_"))
    return fragments


def encodings(value: str) -> set[str]:
    """Every form of ``value`` the redactor searches for."""
    raw = value.encode("utf-8", "surrogatepass")
    forms = {
        value,
        quote(value, safe=""),
        quote_plus(value, safe=""),
        json.dumps(value)[1:-1],
        json.dumps(value, ensure_ascii=False)[1:-1],
    }
    forms |= _base64_fragments(raw)
    return {f for f in forms if len(f) >= MIN_SECRET_LENGTH}


@final
class Redactor:
    """Knows the current secret values and replaces them wherever they appear.

    Thread-safe: values may be registered from any thread while others redact.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        #: encoded form -> key name
        self._forms: dict[str, str] = {}
        self._pattern: re.Pattern[str] | None = None

    def register(self, name: str, value: str) -> None:
        """Remember ``value`` (the secret called ``name``) and its encodings."""
        if len(value) < MIN_SECRET_LENGTH:
            return
        new = encodings(value)
        with self._lock:
            if all(self._forms.get(form) == name for form in new):
                return
            for form in new:
                self._forms[form] = name
            self._pattern = None

    def clear(self) -> None:
        """Forget every registered value."""
        with self._lock:
            self._forms.clear()
            self._pattern = None

    @property
    def active(self) -> bool:
        """True when at least one value is registered."""
        return bool(self._forms)

    def _compiled(self) -> tuple[re.Pattern[str] | None, dict[str, str]]:
        with self._lock:
            if self._pattern is None and self._forms:
                # Longest first, so a value wins over a shorter form it contains.
                ordered = sorted(self._forms, key=len, reverse=True)
                self._pattern = re.compile("|".join(re.escape(f) for f in ordered))
            return self._pattern, self._forms

    def contains_secret(self, text: str) -> bool:
        """True when ``text`` holds a registered value (in any encoding)."""
        pattern, _forms = self._compiled()
        return pattern is not None and pattern.search(text) is not None

    def redact_text(self, text: str) -> str:
        """``text`` with every registered value replaced by ``[REDACTED:NAME]``."""
        pattern, forms = self._compiled()
        if pattern is None:
            return text
        return pattern.sub(lambda m: placeholder(forms[m.group(0)]), text)

    def redact(self, obj: T) -> T:
        """Redact strings inside ``obj``: str, bytes, dicts, lists, tuples, sets, Structs.

        Other objects are returned unchanged; containers are rebuilt only when
        something in them changed.
        """
        if not self.active:
            return obj
        return self._redact(obj, 0)  # type: ignore[no-any-return]

    def _redact(self, obj: Any, depth: int) -> Any:
        if isinstance(obj, str):
            return self.redact_text(obj)
        if depth > _MAX_DEPTH:
            return obj
        if isinstance(obj, bytes):
            try:
                text = obj.decode("utf-8")
            except UnicodeDecodeError:
                return obj
            redacted = self.redact_text(text)
            return obj if redacted == text else redacted.encode("utf-8")
        if isinstance(obj, dict):
            return {self._redact(k, depth + 1): self._redact(v, depth + 1) for k, v in obj.items()}
        if isinstance(obj, list):
            return [self._redact(v, depth + 1) for v in obj]
        if isinstance(obj, tuple) and not hasattr(obj, "_fields"):
            return tuple(self._redact(v, depth + 1) for v in obj)
        if isinstance(obj, set | frozenset):
            return type(obj)(self._redact(v, depth + 1) for v in obj)
        if isinstance(obj, msgspec.Struct):
            changes = {}
            for field in msgspec.structs.fields(obj):
                value = getattr(obj, field.name)
                redacted = self._redact(value, depth + 1)
                if redacted is not value and redacted != value:
                    changes[field.name] = redacted
            return msgspec.structs.replace(obj, **changes) if changes else obj
        return obj

    def redact_wire(self, body: bytes) -> bytes:
        """Redact an encoded UTF-8 JSON message (a protocol body) before it is framed.

        The JSON-escaped forms of every value are searched too, and the
        placeholder needs no escaping, so the result is still valid JSON.
        """
        if not self.active:
            return body
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            return body
        if not self.contains_secret(text):
            return body
        return self.redact_text(text).encode("utf-8")

    def redact_event(self, event: AuditEvent) -> AuditEvent:
        """An audit event with secrets removed from its data, plugin and session."""
        return self.redact(event)

    def redact_error(self, error: LLMError) -> LLMError:
        """A copy of ``error`` (same class) with secrets removed from message, hint and data."""
        if not self.active:
            return error
        message = self.redact_text(error.message)
        hint = self.redact_text(error.hint) if error.hint else error.hint
        data = self.redact(error.data)
        if message == error.message and hint == error.hint and data == error.data:
            return error
        clean = type(error).__new__(type(error))
        LLMError.__init__(clean, message, hint=hint, **data)
        clean.__cause__ = None
        clean.__suppress_context__ = True
        return clean

    def redact_record(self, record: logging.LogRecord) -> None:
        """Rewrite a log record in place so that no registered value survives."""
        if getattr(record, "_llf_redacted", None) is self or not self.active:
            return
        record._llf_redacted = self
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a bad format string must not lose the record
            message = str(record.msg)
        if self.contains_secret(message):
            record.msg = self.redact_text(message)
            record.args = None
        if record.exc_info and record.exc_info[1] is not None:
            text = "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
            if self.contains_secret(text):
                record.exc_text = self.redact_text(text)
                record.exc_info = None
        elif record.exc_text and self.contains_secret(record.exc_text):
            record.exc_text = self.redact_text(record.exc_text)
        if record.stack_info and self.contains_secret(record.stack_info):
            record.stack_info = self.redact_text(record.stack_info)

    async def aclose(self) -> None:
        """Stop redacting logs and forget every value (the host calls this on close)."""
        uninstall_log_redaction(self)
        self.clear()

    def __repr__(self) -> str:
        return f"<Redactor {len(set(self._forms.values()))} secrets>"


class RedactingFilter(logging.Filter):
    """A logging filter that redacts records (it never drops one).

    Attach it to any handler to be sure its output is clean::

        handler.addFilter(RedactingFilter(host.services["redactor"]))
    """

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self.redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        """Redact ``record`` in place; always keep it."""
        self.redactor.redact_record(record)
        return True


# -- process-wide log redaction ---------------------------------------------------------
_active: weakref.WeakSet[Redactor] = weakref.WeakSet()
_install_lock = threading.Lock()
_factory_installed = False


def _wrap_factory(previous: Callable[..., logging.LogRecord]) -> Callable[..., logging.LogRecord]:
    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        for redactor in list(_active):
            redactor.redact_record(record)
        return record

    return factory


def install_log_redaction(redactor: Redactor, logger_name: str = "llf") -> None:
    """Redact every log record with ``redactor`` until :func:`uninstall_log_redaction`.

    Adds a :class:`RedactingFilter` to the ``llf`` logger and its handlers, and
    wraps the log record factory once per process so records of child loggers
    (which skip the parent's filters) and of third-party loggers are redacted too.
    """
    global _factory_installed
    with _install_lock:
        _active.add(redactor)
        if not _factory_installed:
            logging.setLogRecordFactory(_wrap_factory(logging.getLogRecordFactory()))
            _factory_installed = True
    logger = logging.getLogger(logger_name)
    for target in [logger, *logger.handlers]:
        if not any(
            isinstance(f, RedactingFilter) and f.redactor is redactor for f in target.filters
        ):
            target.addFilter(RedactingFilter(redactor))


def uninstall_log_redaction(redactor: Redactor, logger_name: str = "llf") -> None:
    """Stop redacting logs with ``redactor`` (the record factory stays, inert)."""
    with _install_lock:
        _active.discard(redactor)
    logger = logging.getLogger(logger_name)
    for target in [logger, *logger.handlers]:
        for found in [
            f for f in target.filters if isinstance(f, RedactingFilter) and f.redactor is redactor
        ]:
            target.removeFilter(found)
