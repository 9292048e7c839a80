"""A tiny OpenAI-compatible server on 127.0.0.1, in a thread: the wire the provider speaks.

``GET /v1/models`` lists the models; ``POST /v1/chat/completions`` with
``"stream": true`` answers in server-sent events (``data: {...}`` lines ending
with ``data: [DONE]``), the way llama-server, vLLM and LM Studio do.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler
from http.server import ThreadingHTTPServer
from typing import Any


class OpenAIServer(ThreadingHTTPServer):
    """Remembers every chat request body it received."""

    daemon_threads = True

    def __init__(self, reply: str) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.reply = reply
        self.requests: list[dict[str, Any]] = []

    @property
    def api_base(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"


class _Handler(BaseHTTPRequestHandler):
    server: OpenAIServer

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the test output is for the test."""

    def do_GET(self) -> None:
        if self.path != "/v1/models":
            self.send_error(404)
            return
        self._send(200, "application/json", json.dumps({"data": [{"id": "tiny"}]}).encode())

    def do_POST(self) -> None:
        if self.path != "/v1/chat/completions":
            self.send_error(404)
            return
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.requests.append(body)
        words = self.server.reply.split(" ")
        events = [
            {"choices": [{"delta": {"content": w if i == 0 else " " + w}}]}
            for i, w in enumerate(words)
        ]
        events.append({"choices": [{"delta": {}, "finish_reason": "stop"}]})
        events.append(
            {
                "choices": [],
                "usage": {
                    "prompt_tokens": 4,
                    "completion_tokens": len(words),
                    "total_tokens": 4 + len(words),
                },
            }
        )
        text = "".join(f"data: {json.dumps(e)}\n\n" for e in events) + "data: [DONE]\n\n"
        self._send(200, "text/event-stream", text.encode())

    def _send(self, status: int, content_type: str, payload: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


@contextmanager
def openai_server(reply: str = "Hello from loopback") -> Iterator[OpenAIServer]:
    """Run an :class:`OpenAIServer` for the duration of the block."""
    server = OpenAIServer(reply)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
