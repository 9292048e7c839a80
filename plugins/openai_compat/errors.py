"""Mapping what engines say when things go wrong onto the host's typed errors.

Engines report errors in several envelopes:

- OpenAI style ``{"error": {"message", "type", "code"}}`` (``code`` is an int on
  llama-server, a string elsewhere);
- Ollama native ``{"error": "text"}``, also as a line in the middle of a 200 stream;
- FastAPI ``{"detail": ...}`` (llama-cpp-python's server);
- plain text ("Not Found" from mlx_lm.server, proxies' HTML pages).

:func:`error_from_status` and :func:`error_from_payload` read them all and
return a :class:`~llf_host.ProviderError` subclass whose message says what
happened and whose ``hint`` says what to do. :func:`error_from_transport`
does the same for httpx's exceptions, so no httpx exception leaves the plugin.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING
from typing import Any

import msgspec

from llf_host import AuthenticationError
from llf_host import ContextLengthError
from llf_host import ModelLoadingError
from llf_host import ModelNotFoundError
from llf_host import ProviderError
from llf_host import ProviderResponseError
from llf_host import ProviderUnavailableError
from llf_host import RateLimitedError

from .profiles import EngineProfile

if TYPE_CHECKING:
    import httpx

__all__ = [
    "ErrorContext",
    "error_from_payload",
    "error_from_status",
    "error_from_transport",
    "parse_error_body",
    "retry_after_seconds",
]

_CONTEXT_MARKERS = (
    "context length",
    "context_length",
    "context window",
    "maximum context",
    "exceeds the available context",
    "exceed_context_size",
    "too many tokens",
    "prompt is too long",
    "n_ctx",
)
_LOADING_MARKERS = ("loading model", "model is loading", "loading the model", "still loading")
_BUSY_MARKERS = ("server busy", "maximum pending requests", "no slot available", "queue is full")


class ErrorContext(msgspec.Struct, frozen=True):
    """Who we were talking to, for messages and ``data``."""

    provider: str
    profile: EngineProfile
    address: str
    model: str | None = None
    key_name: str | None = None
    #: The config table that sets this endpoint, for "fix it there" hints.
    section: str = ""

    @property
    def where(self) -> str:
        """ "Ollama at 127.0.0.1:11434"."""
        return f"{self.profile.label} at {self.address}"

    def data(self, **extra: Any) -> dict[str, Any]:
        """Machine-readable context for the error's ``data``."""
        return {
            "provider": self.provider,
            "engine": self.profile.kind,
            "endpoint": self.address,
            "model": self.model,
            **extra,
        }

    def down_message(self, reason: str = "connection refused") -> str:
        """The "X is not running at ADDR — start it with ..." sentence."""
        if self.profile.local:
            return (
                f"{self.profile.label} is not running at {self.address} ({reason}) — "
                f"{self.profile.start_hint}"
            )
        return f"cannot reach {self.where} ({reason}) — {self.profile.start_hint}"


def parse_error_body(body: bytes) -> tuple[str, str | None, Any]:
    """``(message, type, code)`` from any error envelope, or the text itself."""
    text = body.decode("utf-8", errors="replace").strip()
    try:
        data = msgspec.json.decode(body) if text else None
    except msgspec.DecodeError:
        data = None
    if isinstance(data, dict):
        return error_fields(data) or (text[:500], None, None)
    return (text[:500] or "(empty body)", None, None)


def error_fields(data: dict[str, Any]) -> tuple[str, str | None, Any] | None:
    """``(message, type, code)`` when ``data`` is an error envelope, else None."""
    err = data.get("error")
    if isinstance(err, str):
        return err, None, None
    if isinstance(err, dict):
        message = err.get("message") or err.get("msg") or msgspec.json.encode(err).decode()
        etype = err.get("type")
        return str(message), str(etype) if etype is not None else None, err.get("code")
    detail = data.get("detail")
    if detail is not None and "choices" not in data:
        return (
            (detail if isinstance(detail, str) else msgspec.json.encode(detail).decode()),
            None,
            None,
        )
    return None


def retry_after_seconds(headers: httpx.Headers | None) -> float | None:
    """``Retry-After`` as seconds (it may be a number or an HTTP date)."""
    if headers is None:
        return None
    raw = headers.get("retry-after") or headers.get("x-ratelimit-reset-requests")
    if not raw:
        return None
    try:
        return max(0.0, float(raw.rstrip("s")))
    except ValueError:
        pass
    import email.utils

    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _has(text: str, markers: tuple[str, ...]) -> bool:
    low = text.lower()
    return any(m in low for m in markers)


def _not_found(ctx: ErrorContext, message: str, status: int | None) -> ProviderError:
    model = ctx.model or "?"
    hint = ctx.profile.get_model_hint.format(model=model) if ctx.profile.get_model_hint else ""
    if ctx.profile.kind == "ollama":
        return ModelNotFoundError(
            f"model `{model}` is not pulled on {ctx.where}",
            hint=hint,
            **ctx.data(status=status, server_message=message),
        )
    if "model" not in message.lower() and status == 404:
        return ModelNotFoundError(
            f"{ctx.where} answered 404 ({message}) for model `{model}`",
            hint=f"check that api_base ({ctx.address}) is the server's OpenAI-compatible "
            "root (usually ending in /v1) and that the model exists: `llf-host models list`",
            **ctx.data(status=status, server_message=message),
        )
    return ModelNotFoundError(
        f"{ctx.where} has no model `{model}`: {message}",
        hint=hint or f"run `llf-host models list {ctx.provider}` to see the models it serves",
        **ctx.data(status=status, server_message=message),
    )


def _auth(ctx: ErrorContext, message: str, status: int | None) -> ProviderError:
    if ctx.key_name:
        hint = (
            f"the key `{ctx.key_name}` was rejected: store a valid one with "
            f"`llf-host keys set {ctx.key_name}`"
        )
    else:
        hint = (
            f"{ctx.where} requires an API key (started with --api-key?): store it with "
            f'`llf-host keys set NAME` and set key = "NAME" for `{ctx.provider}` in the config'
        )
    return AuthenticationError(
        f"{ctx.where} refused the request ({status or 'error'}): {message}",
        hint=hint,
        **ctx.data(status=status, server_message=message),
    )


def _unavailable_503(ctx: ErrorContext, message: str, retry_after: float | None) -> ProviderError:
    if _has(message, _BUSY_MARKERS):
        return RateLimitedError(
            f"{ctx.where} is busy: its request queue is full (503: {message})",
            hint="retry in a moment, or raise the server's parallelism "
            "(OLLAMA_NUM_PARALLEL, llama-server -np)",
            retry_after=retry_after if retry_after is not None else 1.0,
            **ctx.data(status=503, server_message=message),
        )
    if ctx.profile.kind == "vllm" and not _has(message, _LOADING_MARKERS):
        return ProviderUnavailableError(
            f"vLLM's engine at {ctx.address} is not healthy (503: {message})",
            hint="check the vLLM server's log and restart it (`vllm serve MODEL`)",
            **ctx.data(status=503, server_message=message),
        )
    return ModelLoadingError(
        f"{ctx.profile.label} is loading the model (503) at {ctx.address}",
        hint="wait until it has loaded and try again (`llf-host doctor` shows when it is ready)",
        retry_after=retry_after,
        **ctx.data(status=503, server_message=message),
    )


def _bad_request(ctx: ErrorContext, message: str, status: int | None) -> ProviderError:
    low = message.lower()
    if _has(message, _CONTEXT_MARKERS):
        if ctx.profile.kind == "ollama":
            fix = "shorten the conversation or raise the context: options.extra.num_ctx"
        elif ctx.profile.kind in {"llama_server", "llama_cpp_python"}:
            fix = (
                "shorten the conversation or restart the server with a larger context "
                "(-c / --n_ctx)"
            )
        else:
            fix = "shorten the conversation or lower max_tokens"
        return ContextLengthError(
            f"the request does not fit the context window of `{ctx.model}` on {ctx.where}: "
            f"{message}",
            hint=fix,
            **ctx.data(status=status, server_message=message),
        )
    if "tool" in low and ("auto" in low or "tool-call-parser" in low or "tool_choice" in low):
        hint = (
            "restart vLLM with `--enable-auto-tool-choice --tool-call-parser <parser>`"
            if ctx.profile.kind == "vllm"
            else "this server cannot choose tools automatically; send the request without tools"
        )
        return ProviderResponseError(
            f"{ctx.where} cannot use tools as asked: {message}",
            hint=hint,
            **ctx.data(status=status),
        )
    if "does not support tools" in low or "does not support thinking" in low:
        return ProviderResponseError(
            f"model `{ctx.model}` on {ctx.where} lacks a capability: {message}",
            hint="pick a model that supports it (`llf-host models list` shows capabilities)",
            **ctx.data(status=status, server_message=message),
        )
    if "model" in low and ("not found" in low or "does not exist" in low):
        return _not_found(ctx, message, status)
    return ProviderResponseError(
        f"{ctx.where} rejected the request ({status}): {message}",
        hint="check the request options; engine-specific ones go in options.extra",
        **ctx.data(status=status, server_message=message),
    )


def error_from_status(
    ctx: ErrorContext, status: int, body: bytes, headers: httpx.Headers | None = None
) -> ProviderError:
    """The typed error for a non-2xx HTTP answer."""
    message, etype, code = parse_error_body(body)
    return _classify(ctx, status, message, etype, code, retry_after_seconds(headers))


def error_from_payload(ctx: ErrorContext, data: dict[str, Any]) -> ProviderError | None:
    """The typed error carried by a stream event or line, or None if it is not one."""
    fields = error_fields(data)
    if fields is None:
        return None
    message, etype, code = fields
    status = code if isinstance(code, int) and 400 <= code < 600 else None
    return _classify(ctx, status, message, etype, code, None, mid_stream=True)


def _classify(
    ctx: ErrorContext,
    status: int | None,
    message: str,
    etype: str | None,
    code: Any,
    retry_after: float | None,
    *,
    mid_stream: bool = False,
) -> ProviderError:
    kind = (etype or "").lower()
    code_text = str(code).lower() if code is not None else ""
    if status in {401, 403} or kind == "authentication_error" or code_text == "invalid_api_key":
        return _auth(ctx, message, status)
    if status == 429 or kind in {"rate_limit_error", "rate_limit_exceeded"}:
        return RateLimitedError(
            f"{ctx.where} is rate limiting requests (429): {message}",
            hint="wait and retry, or lower the request rate for this provider",
            retry_after=retry_after,
            **ctx.data(status=status, server_message=message),
        )
    if status == 503 or kind == "unavailable_error" or _has(message, _LOADING_MARKERS):
        return _unavailable_503(ctx, message, retry_after)
    if status == 404 or kind == "not_found_error" or code_text == "model_not_found":
        return _not_found(ctx, message, status)
    if (
        status in {400, 413, 422}
        or kind in {"invalid_request_error", "exceed_context_size_error"}
        or _has(message, _CONTEXT_MARKERS)
    ):
        return _bad_request(ctx, message, status)
    if status == 499:
        return ProviderResponseError(
            f"{ctx.where} reports the request was cancelled (499)",
            hint="the client closed the connection; retry if that was not intended",
            **ctx.data(status=status),
        )
    where = "in the middle of the stream" if mid_stream else f"with status {status}"
    return ProviderResponseError(
        f"{ctx.where} failed {where}: {message}",
        hint="check the server's log; retry if the failure was transient",
        **ctx.data(status=status, server_message=message, error_type=etype),
    )


def error_from_transport(
    ctx: ErrorContext, exc: httpx.HTTPError, *, streaming: bool = False
) -> ProviderError:
    """The typed error for an httpx exception (connect, timeout, broken stream)."""
    import httpx  # already imported: ``exc`` came from it

    if isinstance(exc, httpx.ConnectTimeout | httpx.ConnectError):
        reason = (
            "connection timed out"
            if isinstance(exc, httpx.ConnectTimeout)
            else ("connection refused")
        )
        return ProviderUnavailableError(
            ctx.down_message(reason),
            hint=_down_hint(ctx),
            **ctx.data(reason=reason),
        )
    if isinstance(exc, httpx.ReadTimeout):
        stage = "while streaming" if streaming else "before answering"
        return ProviderResponseError(
            f"{ctx.where} went silent {stage} (read timeout)",
            hint="the model may be loading or the prompt very long: raise read_timeout_s for "
            f"`{ctx.provider}` in [plugins.openai_compat], or check the server",
            **ctx.data(reason="read_timeout"),
        )
    if isinstance(exc, httpx.RemoteProtocolError | httpx.ReadError):
        stage = "mid-stream" if streaming else "before answering"
        return ProviderResponseError(
            f"the connection to {ctx.where} broke {stage}: {exc}",
            hint="the server may have crashed or restarted; check its log and retry",
            **ctx.data(reason="truncated" if streaming else "protocol"),
        )
    if isinstance(exc, httpx.TimeoutException):
        return ProviderUnavailableError(
            f"{ctx.where} timed out ({type(exc).__name__})",
            hint=_down_hint(ctx),
            **ctx.data(reason="timeout"),
        )
    return ProviderUnavailableError(
        f"cannot talk to {ctx.where}: {type(exc).__name__}: {exc}",
        hint=_down_hint(ctx),
        **ctx.data(reason=type(exc).__name__),
    )


def _down_hint(ctx: ErrorContext) -> str:
    if not ctx.profile.local:
        return ctx.profile.start_hint
    section = ctx.section or f"[plugins.openai_compat.engines.{ctx.provider}]"
    return (
        f"{ctx.profile.start_hint}; if it runs elsewhere, set hosts = [...] under {section} "
        f"(or {ctx.provider.upper()}_HOSTS)"
    )
