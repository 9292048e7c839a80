"""The SSE and NDJSON parsers: formats engines really send, split anywhere."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from .plugin_modules import plugin_module

NDJSONParser = plugin_module("ndjson").NDJSONParser
SSEEvent = plugin_module("sse").SSEEvent
SSEParser = plugin_module("sse").SSEParser


def parse_all(data: bytes, cuts: list[int] | None = None) -> list[SSEEvent]:
    parser = SSEParser()
    events: list[SSEEvent] = []
    start = 0
    for cut in sorted(set(cuts or [])):
        events += parser.feed(data[start:cut])
        start = cut
    events += parser.feed(data[start:])
    events += parser.close()
    return events


def test_data_with_and_without_space_and_multiline_join() -> None:
    events = parse_all(b"data: a\ndata:b\ndata:  c\n\n")
    assert events == [SSEEvent("message", "a\nb\n c")]


def test_comments_are_ignored_and_counted() -> None:
    parser = SSEParser()
    events = parser.feed(b": ping\n\n:keep-alive\ndata: {}\n\n")
    assert events == [SSEEvent("message", "{}")]
    assert parser.comments == 2


def test_event_and_id_fields_are_kept_and_unknown_fields_ignored() -> None:
    events = parse_all(b"event: error\nid: 7\nretry: 100\nfoo: bar\ndata: x\n\n")
    assert events == [SSEEvent("error", "x", "7")]


@pytest.mark.parametrize("newline", [b"\n", b"\r\n", b"\r"])
def test_every_line_ending(newline: bytes) -> None:
    data = newline.join([b"data: one", b"", b"data: two", b"", b""])
    assert [e.data for e in parse_all(data)] == ["one", "two"]


def test_blank_line_without_data_dispatches_nothing() -> None:
    assert parse_all(b"event: ping\n\n\n\ndata: x\n\n") == [SSEEvent("message", "x")]


def test_unterminated_event_is_flushed_as_incomplete_at_eof() -> None:
    events = parse_all(b'data: {"a": 1}\n\ndata: {"b"')
    assert events == [SSEEvent("message", '{"a": 1}'), SSEEvent("message", '{"b"', complete=False)]


def test_cr_at_chunk_end_is_not_a_double_line_break() -> None:
    parser = SSEParser()
    assert parser.feed(b"data: a\r") == []
    assert parser.feed(b"\ndata: b\r\n") == []
    assert parser.feed(b"\r\n") == [SSEEvent("message", "a\nb")]


def test_utf8_split_inside_a_character() -> None:
    text = "data: ¡héllo 世界!\n\n".encode()
    cut = text.index("世".encode()) + 1
    assert parse_all(text, [cut]) == [SSEEvent("message", "¡héllo 世界!")]


_LINE = st.one_of(
    st.builds(
        lambda s: b"data: " + s.encode(),
        st.text(
            alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n"),
            max_size=20,
        ),
    ),
    st.just(b": ping"),
    st.just(b"event: delta"),
    st.just(b"id: 3"),
    st.just(b""),
)


@given(
    lines=st.lists(_LINE, max_size=25),
    newline=st.sampled_from([b"\n", b"\r\n", b"\r"]),
    cuts=st.lists(st.integers(min_value=0, max_value=2000), max_size=12),
    final_blank=st.booleans(),
)
def test_chunk_boundaries_never_change_the_events(
    lines: list[bytes], newline: bytes, cuts: list[int], final_blank: bool
) -> None:
    data = newline.join(lines) + (newline * 2 if final_blank else b"")
    whole = parse_all(data)
    assert parse_all(data, [c % (len(data) + 1) for c in cuts]) == whole
    # One byte at a time too: the harshest split.
    assert parse_all(data, list(range(len(data)))) == whole


@given(
    payloads=st.lists(
        st.dictionaries(
            st.text(max_size=5), st.one_of(st.integers(), st.text(max_size=8)), max_size=3
        ),
        max_size=10,
    ),
    cuts=st.lists(st.integers(min_value=0, max_value=500), max_size=10),
)
def test_sse_roundtrip_of_json_events(payloads: list[dict[str, object]], cuts: list[int]) -> None:
    data = b"".join(f"data: {json.dumps(p)}\n\n".encode() for p in payloads)
    events = parse_all(data, [c % (len(data) + 1) for c in cuts])
    assert [json.loads(e.data) for e in events] == payloads
    assert all(e.complete for e in events)


def test_ndjson_lines_blank_lines_and_final_line_without_newline() -> None:
    parser = NDJSONParser()
    assert parser.feed(b'{"a": 1}\n\n{"b"') == [{"a": 1}]
    assert parser.feed(b': 2}\n{"c": 3}') == [{"b": 2}]
    assert parser.close() == [{"c": 3}]


def test_ndjson_garbage_line_raises_value_error_with_the_text() -> None:
    parser = NDJSONParser()
    with pytest.raises(ValueError, match="not a JSON line"):
        parser.feed(b"<html>oops</html>\n")


@given(
    payloads=st.lists(st.dictionaries(st.text(max_size=5), st.integers(), max_size=3), max_size=10),
    cuts=st.lists(st.integers(min_value=0, max_value=500), max_size=10),
)
def test_ndjson_chunk_boundaries_never_change_the_values(
    payloads: list[dict[str, int]], cuts: list[int]
) -> None:
    data = b"".join(json.dumps(p).encode() + b"\n" for p in payloads)
    parser = NDJSONParser()
    out: list[object] = []
    start = 0
    for cut in sorted({c % (len(data) + 1) for c in cuts}):
        out += parser.feed(data[start:cut])
        start = cut
    out += parser.feed(data[start:])
    out += parser.close()
    assert out == payloads
