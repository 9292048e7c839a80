"""The redactor: secrets and their encodings disappear from text, data, events, logs."""

from __future__ import annotations

import base64
import json
import logging
from urllib.parse import quote
from urllib.parse import urlencode

import msgspec
from hypothesis import given
from hypothesis import strategies as st

from llf_host import AuditEvent
from llf_host import AuthenticationError
from llf_host._redact import MIN_SECRET_LENGTH
from llf_host._redact import RedactingFilter
from llf_host._redact import Redactor
from llf_host._redact import install_log_redaction
from llf_host._redact import uninstall_log_redaction

SECRET = "sk-live/ab+cd=ef&gh?ij é"


def redactor() -> Redactor:
    r = Redactor()
    r.register("OPENAI_API_KEY", SECRET)
    return r


def test_raw_url_json_and_base64_forms_are_replaced():
    r = redactor()
    raw = SECRET.encode()
    texts = [
        f"Authorization: Bearer {SECRET}",
        "https://api.example/v1?" + urlencode({"key": SECRET}),
        f"https://api.example/v1?key={quote(SECRET, safe='')}",
        json.dumps({"api_key": SECRET}),
        json.dumps({"api_key": SECRET}, ensure_ascii=False),
        "Basic " + base64.b64encode(b"user:" + raw).decode(),
        "Basic " + base64.b64encode(b"us:" + raw + b"!").decode(),
        "tok " + base64.urlsafe_b64encode(b"x" + raw).decode(),
        base64.b64encode(raw).decode(),
    ]
    for text in texts:
        out = r.redact_text(text)
        assert "[REDACTED:OPENAI_API_KEY]" in out, text
        for form in (SECRET, quote(SECRET, safe=""), base64.b64encode(raw).decode()):
            assert form not in out


@given(
    value=st.text(min_size=MIN_SECRET_LENGTH, max_size=80).filter(
        lambda v: v not in "[REDACTED:K]"
    ),
    prefix=st.binary(max_size=5),
    suffix=st.binary(max_size=5),
)
def test_any_value_is_gone_from_its_encodings(value, prefix, suffix):
    r = Redactor()
    r.register("K", value)
    raw = value.encode("utf-8")
    b64 = base64.b64encode(raw).decode().rstrip("=")
    texts = [
        f"<{value}>",
        f"url={quote(value, safe='')}&x=1",
        base64.b64encode(prefix + raw + suffix).decode(),
        base64.urlsafe_b64encode(prefix + raw + suffix).decode(),
    ]
    for text in texts:
        out = r.redact_text(text)
        assert value not in out
        assert quote(value, safe="") not in out
        assert b64 not in out


def test_short_values_are_not_redacted():
    r = Redactor()
    r.register("PIN", "12345")
    assert r.redact_text("call 12345") == "call 12345"
    assert not r.active


def test_nested_data_structs_and_events():
    r = redactor()
    data = {"a": [SECRET, {"b": (1, f"x{SECRET}y")}], SECRET: "key position", "n": 3}
    out = r.redact(data)
    assert SECRET not in json.dumps(out, ensure_ascii=False)
    assert out["n"] == 3

    class Thing(msgspec.Struct, frozen=True):
        text: str
        other: int = 0

    assert r.redact(Thing(text=SECRET)).text == "[REDACTED:OPENAI_API_KEY]"
    event = AuditEvent(kind="tool.call", plugin="p", data={"arguments": {"q": SECRET}})
    clean = r.redact_event(event)
    assert clean.data == {"arguments": {"q": "[REDACTED:OPENAI_API_KEY]"}}
    assert clean.kind == "tool.call" and clean.time == event.time


def test_errors_keep_their_class_and_lose_the_secret():
    r = redactor()
    err = AuthenticationError(f"key {SECRET} rejected", hint=f"check {SECRET}", sent=SECRET)
    clean = r.redact_error(err)
    assert isinstance(clean, AuthenticationError)
    assert SECRET not in json.dumps(clean.to_wire(), ensure_ascii=False)
    assert clean.code == err.code


def test_log_records_from_child_loggers_are_redacted(caplog):
    r = redactor()
    install_log_redaction(r)
    try:
        with caplog.at_level(logging.DEBUG, logger="llf"):
            logging.getLogger("llf.plugin.openai").debug("sending key %s", SECRET)
            logging.getLogger("httpx").warning("GET /v1?key=%s", quote(SECRET, safe=""))
            try:
                raise ValueError(f"bad key {SECRET}")
            except ValueError:
                logging.getLogger("llf.host").exception("provider failed")
    finally:
        uninstall_log_redaction(r)
    text = caplog.text
    assert "[REDACTED:OPENAI_API_KEY]" in text
    assert SECRET not in text and quote(SECRET, safe="") not in text
    # after uninstall, the factory is inert for this redactor
    record = logging.getLogger("llf.x").makeRecord("llf.x", 10, "f", 1, SECRET, None, None)
    assert record.getMessage() == SECRET


def test_filter_on_a_handler_redacts_what_reaches_it():
    r = redactor()
    handler = logging.Handler()
    seen: list[str] = []
    handler.emit = lambda record: seen.append(record.getMessage())  # type: ignore[method-assign]
    handler.addFilter(RedactingFilter(r))
    logger = logging.getLogger("test.redact.handler")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.error("value=%s", SECRET)
    finally:
        logger.removeHandler(handler)
    assert seen == ["value=[REDACTED:OPENAI_API_KEY]"]


@given(value=st.text(min_size=MIN_SECRET_LENGTH, max_size=60))
def test_wire_bodies_stay_valid_json_without_the_value(value):
    r = Redactor()
    r.register("K", value)
    body = msgspec.json.encode({"error": {"message": f"bad key {value}", "data": {"v": [value]}}})
    clean = r.redact_wire(body)
    decoded = msgspec.json.decode(clean)
    if value not in "[REDACTED:K]":
        assert value not in json.dumps(decoded, ensure_ascii=False)
    assert decoded["error"]["data"]["v"] == ["[REDACTED:K]"]
