"""The Content-Length frame parser, on its own."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from llf_host._rpc.framing import MAX_HEADER_BYTES
from llf_host._rpc.framing import FrameError
from llf_host._rpc.framing import FrameParser
from llf_host._rpc.framing import encode_frame
from llf_host._rpc.framing import frame_header
from llf_host._rpc.framing import scan_request_fields


def feed_in_pieces(parser: FrameParser, data: bytes, cuts: list[int]) -> list[bytes | FrameError]:
    out: list[bytes | FrameError] = []
    start = 0
    for cut in [*sorted({min(c, len(data)) for c in cuts}), len(data)]:
        out.extend(parser.feed(data[start:cut]))
        start = cut
    return out


@given(
    bodies=st.lists(st.binary(max_size=300), max_size=8),
    cuts=st.lists(st.integers(min_value=0, max_value=3000), max_size=20),
)
def test_any_split_of_a_stream_gives_the_same_bodies(bodies: list[bytes], cuts: list[int]) -> None:
    data = b"".join(encode_frame(b) for b in bodies)
    parser = FrameParser(1 << 20)
    assert feed_in_pieces(parser, data, cuts) == bodies
    assert parser.buffered == 0


@given(
    sizes=st.lists(st.integers(min_value=0, max_value=200), min_size=1, max_size=6),
    limit=st.integers(min_value=1, max_value=150),
    cuts=st.lists(st.integers(min_value=0, max_value=2000), max_size=10),
)
def test_oversized_bodies_are_skipped_and_the_rest_survives(
    sizes: list[int], limit: int, cuts: list[int]
) -> None:
    bodies = [b"x" * n for n in sizes]
    data = b"".join(encode_frame(b) for b in bodies)
    out = feed_in_pieces(FrameParser(limit), data, cuts)
    expected = [b if len(b) <= limit else "too big" for b in bodies]
    got = [
        item if isinstance(item, bytes) else ("too big" if item.code == -32600 else item)
        for item in out
    ]
    assert got == expected


def test_oversized_error_names_the_request() -> None:
    body = b'{"jsonrpc":"2.0","id":"r-1","method":"chat/complete","params":{"x":"' + b"y" * 5000
    body += b'"}}'
    parser = FrameParser(1000)
    (error,) = parser.feed(encode_frame(body))
    assert isinstance(error, FrameError)
    assert error.request_id == "r-1"
    assert error.data["method"] == "chat/complete"
    assert error.data["size"] == len(body)
    assert error.data["limit"] == 1000


def test_bad_headers_are_reported_and_parsing_resumes() -> None:
    parser = FrameParser(1 << 20)
    good = encode_frame(b"{}")
    for bad in (
        b"Content-Length: x\r\n\r\n",
        b"Content-Length: -1\r\n\r\n",
        b"X-Only: 1\r\n\r\n",
        b"Content-Length: 2\r\nContent-Length: 3\r\n\r\n",
        b"Content-Length: 2\r\nContent-Type: text/plain; charset=latin-1\r\n\r\n",
    ):
        out = parser.feed(bad + good)
        assert isinstance(out[0], FrameError)
        assert out[0].code == -32700
        assert out[-1] == b"{}"


def test_headers_are_case_insensitive_and_utf8_charset_is_accepted() -> None:
    data = b"content-length: 2\r\nContent-Type: application/vscode-jsonrpc; charset=utf8\r\n\r\n{}"
    assert FrameParser(100).feed(data) == [b"{}"]


def test_endless_header_is_dropped() -> None:
    parser = FrameParser(100)
    out = parser.feed(b"A" * (MAX_HEADER_BYTES + 100))
    assert isinstance(out[0], FrameError)
    assert parser.buffered < 10
    assert parser.feed(encode_frame(b"[]"))[-1] == b"[]"


def test_encoder() -> None:
    assert frame_header(12) == b"Content-Length: 12\r\n\r\n"
    assert encode_frame("é".encode()) == b"Content-Length: 2\r\n\r\n\xc3\xa9"


def test_scan_request_fields_only_reads_the_top_level() -> None:
    assert scan_request_fields(b'{"params":{"id":1,"method":"no"},"id":7,"method":"yes"') == (
        7,
        "yes",
    )
    assert scan_request_fields(b'{"method":"a\\"b", "id" : "x"}') == ("x", 'a"b')
    assert scan_request_fields(b"[1,2,3]") == (None, None)
    assert scan_request_fields(b'{"id":') == (None, None)
