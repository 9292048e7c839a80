"""Fixtures of the key store tests."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from http.server import ThreadingHTTPServer
from typing import NamedTuple

import pytest


class LoopbackApi(NamedTuple):
    """A stand-in API server on 127.0.0.1 and what it received (path + auth header)."""

    url: str
    seen: list[str]


@pytest.fixture
def loopback_api() -> Iterator[LoopbackApi]:
    seen: list[str] = []

    class Api(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(self.path + " " + str(self.headers.get("Authorization")))
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Api)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield LoopbackApi(f"http://127.0.0.1:{server.server_address[1]}/v1/models", seen)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
