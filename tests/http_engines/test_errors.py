"""Error envelopes of every engine -> the host's typed errors, each with a fix."""

from __future__ import annotations

import email.utils
import json
import time

import httpx
import pytest

from llf_host import AuthenticationError
from llf_host import ContextLengthError
from llf_host import ModelLoadingError
from llf_host import ModelNotFoundError
from llf_host import ProviderResponseError
from llf_host import ProviderUnavailableError
from llf_host import RateLimitedError

from .plugin_modules import plugin_module

ErrorContext = plugin_module("errors").ErrorContext
error_from_payload = plugin_module("errors").error_from_payload
error_from_status = plugin_module("errors").error_from_status
error_from_transport = plugin_module("errors").error_from_transport
retry_after_seconds = plugin_module("errors").retry_after_seconds
PROFILES = plugin_module("profiles").PROFILES


def ctx(kind: str = "llama_server") -> ErrorContext:
    return ErrorContext(provider="p", profile=PROFILES[kind], address="127.0.0.1:1", model="m")  # type: ignore[index]


def body(obj: object) -> bytes:
    return json.dumps(obj).encode()


@pytest.mark.parametrize(
    ("kind", "status", "raw", "expected", "words"),
    [
        (
            "llama_server",
            400,
            body(
                {
                    "error": {
                        "code": 400,
                        "message": "the request exceeds the available context size, try increasing it",
                        "type": "exceed_context_size_error",
                    }
                }
            ),
            ContextLengthError,
            "-c",
        ),
        (
            "ollama",
            400,
            body({"error": "prompt too long; exceeded max context length by 100 tokens"}),
            ContextLengthError,
            "num_ctx",
        ),
        (
            "openai",
            400,
            body(
                {
                    "error": {
                        "message": "This model's maximum context length is 8192 tokens",
                        "type": "invalid_request_error",
                        "code": "context_length_exceeded",
                    }
                }
            ),
            ContextLengthError,
            "shorten",
        ),
        (
            "vllm",
            400,
            body(
                {
                    "object": "error",
                    "message": '"auto" tool choice requires --enable-auto-tool-choice and --tool-call-parser to be set',
                    "type": "BadRequestError",
                    "code": 400,
                }
            ),
            ProviderResponseError,
            "--enable-auto-tool-choice",
        ),
        (
            "ollama",
            400,
            body({"error": "registry.ollama.ai/library/gemma:2b does not support tools"}),
            ProviderResponseError,
            "capabilit",
        ),
        (
            "llama_server",
            401,
            body(
                {
                    "error": {
                        "code": 401,
                        "message": "Invalid API Key",
                        "type": "authentication_error",
                    }
                }
            ),
            AuthenticationError,
            "keys set",
        ),
        ("llama_cpp_python", 404, body({"detail": "Not Found"}), ModelNotFoundError, "api_base"),
        ("mlx_server", 404, b"Not Found", ModelNotFoundError, "api_base"),
        (
            "ollama",
            404,
            body({"error": 'model "m" not found, try pulling it first'}),
            ModelNotFoundError,
            "ollama pull m",
        ),
        (
            "llama_server",
            503,
            body({"error": {"code": 503, "message": "Loading model", "type": "unavailable_error"}}),
            ModelLoadingError,
            "wait",
        ),
        (
            "ollama",
            503,
            body({"error": "server busy, please try again.  maximum pending requests exceeded"}),
            RateLimitedError,
            "OLLAMA_NUM_PARALLEL",
        ),
        ("vllm", 503, b"", ProviderUnavailableError, "restart"),
        ("ollama", 499, b"", ProviderResponseError, "client closed"),
        ("generic", 502, b"<html><body>Bad Gateway</body></html>", ProviderResponseError, "log"),
    ],
)
def test_status_and_envelope_mapping(kind, status, raw, expected, words) -> None:
    error = error_from_status(ctx(kind), status, raw)
    assert type(error) is expected
    assert words in f"{error.message} {error.hint}"
    assert error.data["provider"] == "p" and error.data["endpoint"] == "127.0.0.1:1"


def test_mid_stream_payloads() -> None:
    assert error_from_payload(ctx(), {"choices": []}) is None
    error = error_from_payload(
        ctx(), {"error": {"message": "Loading model", "type": "unavailable_error", "code": 503}}
    )
    assert isinstance(error, ModelLoadingError)
    plain = error_from_payload(ctx("ollama"), {"error": "unexpected EOF"})
    assert isinstance(plain, ProviderResponseError) and "middle of the stream" in plain.message


def test_retry_after_seconds_and_dates() -> None:
    assert retry_after_seconds(httpx.Headers({"retry-after": "3"})) == 3.0
    future = email.utils.formatdate(time.time() + 30, usegmt=True)
    assert 20 < (retry_after_seconds(httpx.Headers({"retry-after": future})) or 0) <= 31
    assert retry_after_seconds(httpx.Headers({"retry-after": "soon"})) is None
    assert retry_after_seconds(httpx.Headers()) is None


def test_transport_errors() -> None:
    request = httpx.Request("GET", "http://127.0.0.1:1/")
    down = error_from_transport(ctx("ollama"), httpx.ConnectError("refused", request=request))
    assert isinstance(down, ProviderUnavailableError) and "ollama serve" in down.message
    slow = error_from_transport(ctx(), httpx.ReadTimeout("slow", request=request), streaming=True)
    assert isinstance(slow, ProviderResponseError) and "read_timeout_s" in (slow.hint or "")
    cut = error_from_transport(
        ctx(), httpx.RemoteProtocolError("incomplete chunked read"), streaming=True
    )
    assert isinstance(cut, ProviderResponseError) and cut.data["reason"] == "truncated"
