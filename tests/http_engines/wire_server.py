"""A tiny scripted HTTP/1.1 server on loopback, for engines that cannot run here.

Each route answers with :class:`Reply` objects written to the documented wire
formats: a status, headers, and a body sent as separate chunks (chunked
transfer encoding by default, so chunk boundaries are real), optionally
without the terminating chunk (an abrupt close) or delimited by closing the
connection. Every request is recorded for assertions.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field
from typing import Any

__all__ = ["Reply", "Request", "ScriptedServer", "free_port", "json_reply", "ndjson", "sse"]


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


@dataclass
class Reply:
    status: int = 200
    chunks: list[bytes] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"
    #: "chunked" (default), "length" (Content-Length), or "close" (EOF-delimited).
    framing: str = "chunked"
    #: Drop the connection after the chunks, without the final empty chunk.
    abort: bool = False
    #: Seconds to wait between chunks.
    delay: float = 0.0


Handler = Reply | list[Reply] | Callable[[Request], Reply]


def json_reply(obj: Any, status: int = 200, **kwargs: Any) -> Reply:
    return Reply(status=status, chunks=[json.dumps(obj).encode()], framing="length", **kwargs)


def sse(*events: Any, done: bool = True, comments: bool = False) -> list[bytes]:
    """SSE frames for ``events`` (dicts are JSON-encoded; str sent as data verbatim)."""
    out: list[bytes] = []
    for i, event in enumerate(events):
        if comments:
            out.append(b": ping\n\n" if i % 2 == 0 else b":keep-alive\n")
        data = event if isinstance(event, str) else json.dumps(event)
        out.append(f"data: {data}\n\n".encode())
    if done:
        out.append(b"data: [DONE]\n\n")
    return out


def ndjson(*lines: Any) -> list[bytes]:
    return [(json.dumps(line) + "\n").encode() for line in lines]


_REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


class ScriptedServer:
    """Serve ``routes`` ({"GET /path": handler}) on 127.0.0.1:<free port>."""

    def __init__(self, routes: dict[str, Handler] | None = None) -> None:
        self.routes: dict[str, Handler] = dict(routes or {})
        self.requests: list[Request] = []
        self._server: asyncio.base_events.Server | None = None
        self.port = 0
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.address}"

    def hits(self, route: str) -> list[Request]:
        method, _, path = route.partition(" ")
        return [r for r in self.requests if r.method == method and r.path == path]

    async def start(self) -> ScriptedServer:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            for writer in list(self._writers):
                writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)

    def _reply_for(self, request: Request) -> Reply:
        handler = self.routes.get(f"{request.method} {request.path}")
        if handler is None:
            return Reply(404, [b"Not Found"], content_type="text/plain", framing="length")
        if isinstance(handler, Reply):
            return handler
        if isinstance(handler, list):
            return handler.pop(0) if len(handler) > 1 else handler[0]
        return handler(request)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, target, _ = lines[0].split(" ", 2)
                headers = {}
                for line in lines[1:]:
                    if ":" in line:
                        k, v = line.split(":", 1)
                        headers[k.strip().lower()] = v.strip()
                length = int(headers.get("content-length", "0"))
                body = await reader.readexactly(length) if length else b""
                request = Request(method, target.split("?", 1)[0], headers, body)
                self.requests.append(request)
                keep = await self._write(writer, self._reply_for(request))
                if not keep:
                    break
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        finally:
            self._writers.discard(writer)
            writer.close()

    async def _write(self, writer: asyncio.StreamWriter, reply: Reply) -> bool:
        head = [f"HTTP/1.1 {reply.status} {_REASONS.get(reply.status, 'Status')}"]
        head.append(f"content-type: {reply.content_type}")
        for k, v in reply.headers.items():
            head.append(f"{k}: {v}")
        if reply.framing == "chunked":
            head.append("transfer-encoding: chunked")
        elif reply.framing == "length":
            head.append(f"content-length: {sum(len(c) for c in reply.chunks)}")
        else:
            head.append("connection: close")
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode())
        await writer.drain()
        for chunk in reply.chunks:
            if reply.delay:
                await asyncio.sleep(reply.delay)
            if reply.framing == "chunked":
                writer.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
            else:
                writer.write(chunk)
            await writer.drain()
        if reply.abort:
            writer.transport.abort()
            return False
        if reply.framing == "chunked":
            writer.write(b"0\r\n\r\n")
            await writer.drain()
        return reply.framing != "close"


def free_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
