"""LSP base-protocol framing: ``Content-Length: N\\r\\n\\r\\n`` + N bytes of UTF-8 JSON.

:class:`FrameParser` is incremental and works on whole buffers (no line reads):
feed it whatever the pipe delivered and it returns every complete body plus a
:class:`FrameError` for every problem it met. It never raises and never loses
its place for long:

- a header block that cannot be parsed is dropped (one error), and parsing
  resumes after it; a ``Content-Length:`` glued to garbage is still found;
- a body larger than ``max_message_bytes`` is rejected *from its header*, before
  it is buffered: its bytes are skipped as they arrive (only the first KiB is
  kept, to find the request's ``id``), so the connection survives;
- a header block that does not end within :data:`MAX_HEADER_BYTES` is dropped.

The encoder is :func:`encode_frame` (one buffer) or :func:`frame_header`
(write header and a large body separately, without a copy).
"""

from __future__ import annotations

import re
from typing import Final
from typing import final

__all__ = [
    "MAX_HEADER_BYTES",
    "FrameError",
    "FrameParser",
    "encode_frame",
    "frame_header",
    "scan_request_fields",
]

#: A header block longer than this without its blank line is garbage.
MAX_HEADER_BYTES: Final = 8192
#: How much of a skipped (oversized) body is kept to find its ``id``.
_ID_SCAN_BYTES: Final = 1024
_SEP: Final = b"\r\n\r\n"
_CONTENT_LENGTH: Final = b"content-length"
_UTF8_CHARSETS: Final = frozenset({"utf-8", "utf8"})
_TOKEN_RE: Final = re.compile(rb"[A-Za-z0-9-]+")


@final
class FrameError:
    """A framing problem the reader met; the dispatcher turns it into an error reply.

    :param code: the JSON-RPC code to answer with (-32700 or -32600).
    :param message: what was wrong, for humans.
    :param hint: what the sender should do.
    :param request_id: the id of the request concerned, when it could be found.
    :param data: machine-readable details (limit, size...).
    """

    __slots__ = ("code", "data", "hint", "message", "request_id")

    def __init__(
        self,
        code: int,
        message: str,
        hint: str,
        *,
        request_id: int | str | None = None,
        data: dict[str, object] | None = None,
    ) -> None:
        self.code = code
        self.message = message
        self.hint = hint
        self.request_id = request_id
        self.data = data or {}

    def __repr__(self) -> str:
        return f"FrameError({self.code}, {self.message!r})"


def frame_header(length: int) -> bytes:
    """The header block for a body of ``length`` bytes."""
    return b"Content-Length: %d\r\n\r\n" % length


def encode_frame(body: bytes) -> bytes:
    """One complete frame for ``body`` (already UTF-8 JSON)."""
    return b"Content-Length: %d\r\n\r\n%b" % (len(body), body)


def _bad_header(reason: str) -> FrameError:
    return FrameError(
        -32700,
        f"invalid message header: {reason}",
        "frame every message as 'Content-Length: <bytes>\\r\\n\\r\\n' followed by exactly "
        "that many bytes of UTF-8 JSON (LSP base protocol)",
        data={"kind": "bad_frame"},
    )


def _parse_header(block: bytes) -> tuple[int, FrameError | None]:
    """The body length announced by ``block``, or an error (length is then -1)."""
    if block[:16] == b"Content-Length: ":  # the common case: one canonical header
        digits = block[16:]
        if digits.isdigit() and len(digits) <= 18:
            return int(digits), None
    length = -1
    garbage = False
    for raw_line in block.split(b"\r\n"):
        name, sep, value = raw_line.partition(b":")
        key = name.strip().lower()
        if (
            not sep
            or not key
            or not _is_token(key)
            or (key != _CONTENT_LENGTH and key.endswith(_CONTENT_LENGTH))
        ):
            # Bytes glued in front of a header (a short body, noise): resync on
            # the Content-Length that follows them, if any.
            garbage = True
            at = raw_line.lower().rfind(_CONTENT_LENGTH + b":")
            if at < 0:
                continue
            key, value = _CONTENT_LENGTH, raw_line[at + len(_CONTENT_LENGTH) + 1 :]
        if key == _CONTENT_LENGTH:
            text = value.strip()
            if not text.isdigit() or len(text) > 18:
                shown = text[:40].decode("latin-1")
                return -1, _bad_header(f"Content-Length {shown!r} is not a byte count")
            number = int(text)
            if length not in (-1, number):
                return -1, _bad_header("two different Content-Length headers")
            length = number
        elif key == b"content-type":
            charset = _charset(value)
            if charset is not None and charset not in _UTF8_CHARSETS:
                return -1, _bad_header(f"charset {charset!r} is not supported, use utf-8")
    if length < 0:
        return -1, _bad_header("no Content-Length header")
    if garbage:
        # The frame itself is fine; report the skipped bytes separately.
        return length, _bad_header("bytes before the header were skipped")
    return length, None


def _is_token(name: bytes) -> bool:
    return _TOKEN_RE.fullmatch(name) is not None


def _charset(value: bytes) -> str | None:
    for part in value.split(b";")[1:]:
        key, _, val = part.partition(b"=")
        if key.strip().lower() == b"charset":
            return val.strip().strip(b'"').decode("latin-1").lower()
    return None


@final
class FrameParser:
    """Incremental Content-Length frame parser (see the module docstring).

    :param max_message_bytes: the largest body accepted; bigger ones are skipped.
    """

    __slots__ = ("_buf", "_need", "_skip", "_skip_len", "_skip_prefix", "max_message_bytes")

    def __init__(self, max_message_bytes: int) -> None:
        self.max_message_bytes = max_message_bytes
        self._buf = bytearray()
        #: Length of the body being waited for; -1 while reading a header.
        self._need = -1
        #: Bytes of an oversized body still to discard.
        self._skip = 0
        self._skip_len = 0
        self._skip_prefix = bytearray()

    @property
    def buffered(self) -> int:
        """Bytes held waiting for the rest of a frame."""
        return len(self._buf)

    def feed(self, data: bytes) -> list[bytes | FrameError]:
        """Consume ``data``; return complete bodies and errors, in stream order."""
        out: list[bytes | FrameError] = []
        if self._skip:
            data = self._skip_bytes(data, out)
            if not data:
                return out
        buf: bytes | bytearray
        if self._buf:
            self._buf += data
            buf = self._buf
        else:
            buf = data
        pos = self._parse(buf, out)
        if buf is self._buf:
            del self._buf[:pos]
        elif pos < len(buf):
            self._buf += memoryview(buf)[pos:]
        return out

    def _parse(self, buf: bytes | bytearray, out: list[bytes | FrameError]) -> int:
        pos = 0
        end_of_buf = len(buf)
        while True:
            need = self._need
            if need < 0:
                end = buf.find(_SEP, pos)
                if end < 0:
                    if end_of_buf - pos > MAX_HEADER_BYTES:
                        out.append(_bad_header(f"no blank line within {MAX_HEADER_BYTES} bytes"))
                        # Keep the tail: it may hold the start of the next header.
                        pos = end_of_buf - len(_SEP)
                    return pos
                if end - pos > MAX_HEADER_BYTES:
                    out.append(_bad_header(f"header block longer than {MAX_HEADER_BYTES} bytes"))
                    pos = end + 4
                    continue
                length, error = _parse_header(bytes(buf[pos:end]))
                pos = end + 4
                if error is not None:
                    out.append(error)
                    if length < 0:
                        continue
                if length > self.max_message_bytes:
                    pos = self._start_skip(buf, pos, length, out)
                    continue
                need = self._need = length
            if end_of_buf - pos < need:
                return pos
            out.append(bytes(memoryview(buf)[pos : pos + need]) if need else b"")
            pos += need
            self._need = -1

    def _start_skip(
        self, buf: bytes | bytearray, pos: int, length: int, out: list[bytes | FrameError]
    ) -> int:
        take = min(len(buf) - pos, length)
        self._skip_len = length
        self._skip_prefix = bytearray(buf[pos : pos + min(take, _ID_SCAN_BYTES)])
        self._skip = length - take
        if not self._skip:
            out.append(self._oversize_error())
        return pos + take

    def _skip_bytes(self, data: bytes, out: list[bytes | FrameError]) -> bytes:
        n = min(len(data), self._skip)
        room = _ID_SCAN_BYTES - len(self._skip_prefix)
        if room > 0:
            self._skip_prefix += data[: min(room, n)]
        self._skip -= n
        if not self._skip:
            out.append(self._oversize_error())
        return data[n:]

    def _oversize_error(self) -> FrameError:
        request_id, method = scan_request_fields(bytes(self._skip_prefix))
        self._skip_prefix = bytearray()
        what = f"{method} request" if method else "message"
        return FrameError(
            -32600,
            f"{what} of {self._skip_len} bytes exceeds the limit of "
            f"{self.max_message_bytes} bytes; it was skipped",
            "send smaller messages (see limits.maxMessageBytes in the initialize result), "
            "or raise [protocol] max_message_bytes in the host config",
            request_id=request_id,
            data={
                "kind": "message_too_large",
                "limit": self.max_message_bytes,
                "size": self._skip_len,
                "method": method,
            },
        )


def scan_request_fields(prefix: bytes) -> tuple[int | str | None, str | None]:
    """Find the top-level ``id`` and ``method`` in the start of a JSON object.

    Used only for bodies too large to decode: a forgiving scan that tracks
    strings and nesting depth and returns what it finds before ``prefix`` ends.
    """
    found: dict[str, int | str | None] = {}
    depth = 0
    i = 0
    n = len(prefix)
    expecting_key = False
    while i < n and len(found) < 2:
        c = prefix[i]
        if c == 0x22:  # a string
            end = _string_end(prefix, i)
            if end < 0:
                break
            if depth == 1 and expecting_key:
                key = prefix[i + 1 : end]
                j = _skip_ws(prefix, end + 1)
                if j < n and prefix[j] == 0x3A and key in (b"id", b"method"):
                    value, j = _scalar(prefix, _skip_ws(prefix, j + 1))
                    if value is not _NOT_SCALAR:
                        found[key.decode()] = value  # type: ignore[assignment]
                    i = j
                    expecting_key = False
                    continue
            expecting_key = False
            i = end + 1
            continue
        if c in (0x7B, 0x5B):  # { [
            depth += 1
            expecting_key = c == 0x7B and depth == 1
        elif c in (0x7D, 0x5D):  # } ]
            depth -= 1
        elif c == 0x2C and depth == 1:  # ,
            expecting_key = True
        i += 1
    request_id = found.get("id")
    method = found.get("method")
    return (
        request_id if isinstance(request_id, int | str) else None,
        method if isinstance(method, str) else None,
    )


_NOT_SCALAR: Final = object()


def _skip_ws(data: bytes, i: int) -> int:
    while i < len(data) and data[i] in b" \t\r\n":
        i += 1
    return i


def _string_end(data: bytes, start: int) -> int:
    i = start + 1
    while i < len(data):
        c = data[i]
        if c == 0x5C:  # backslash
            i += 2
            continue
        if c == 0x22:
            return i
        i += 1
    return -1


def _scalar(data: bytes, i: int) -> tuple[object, int]:
    import msgspec

    if i < len(data) and data[i] == 0x22:
        end = _string_end(data, i)
        if end < 0:
            return _NOT_SCALAR, len(data)
        try:
            return msgspec.json.decode(data[i : end + 1]), end + 1
        except (msgspec.DecodeError, UnicodeDecodeError):
            return _NOT_SCALAR, end + 1
    j = i
    while j < len(data) and data[j] in b"-0123456789":
        j += 1
    if j > i and j < len(data):
        try:
            return int(data[i:j]), j
        except ValueError:
            return _NOT_SCALAR, j
    return _NOT_SCALAR, j
