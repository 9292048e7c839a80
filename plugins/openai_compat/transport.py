"""One HTTP client per endpoint, created lazily, with retries before the first byte.

:class:`EndpointClient` owns an :class:`httpx.AsyncClient` for one server. It
adds the headers and the bearer key (read from the key store on first use, only
when a key is configured: an empty ``Authorization`` breaks some servers), uses
separate connect and read timeouts (a long read timeout: model loads and long
prefills are silent), and :meth:`EndpointClient.open` retries with backoff on
connection errors, 429 and 503 *before* a response is accepted. Nothing is
retried once a 2xx response has started: the caller owns the stream from there.

httpx is imported on first use (it pulls in ~50 ms of modules), never when the
plugin loads: a host that never talks to an HTTP engine never imports it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from collections.abc import Callable
from typing import TYPE_CHECKING
from typing import Any
from typing import NamedTuple

import msgspec

from llf_host import AuthenticationError
from llf_host import KeyNotFoundError
from llf_host import KeyStoreError
from llf_host import KeyStoreLocked
from llf_host import ProviderError
from llf_host import ProviderUnavailableError

from .errors import ErrorContext
from .errors import error_from_status
from .errors import error_from_transport

if TYPE_CHECKING:
    import httpx

__all__ = ["EndpointClient", "KeyReader", "RetryPolicy", "Timeouts"]

log = logging.getLogger("llf.plugin.openai_compat")

#: Reads a secret by name from the host's key store (``PluginContext.key``).
KeyReader = Callable[[str], str]

_RETRY_STATUSES = frozenset({429, 503})
_MAX_ERROR_BODY = 64 * 1024


class Timeouts(NamedTuple):
    """Seconds per phase; httpx takes it wherever it takes a timeout (a 4-tuple)."""

    connect: float | None
    read: float | None
    write: float | None
    pool: float | None


class RetryPolicy(msgspec.Struct, frozen=True):
    """How often and how long to wait before giving up on a request."""

    retries: int = 2
    base_delay_s: float = 0.25
    max_delay_s: float = 4.0
    #: A server asking us to wait longer than this is not retried.
    max_retry_after_s: float = 30.0

    def delay(self, attempt: int, retry_after: float | None) -> float | None:
        """Seconds to wait before attempt ``attempt + 1``, or None to give up."""
        if attempt >= self.retries:
            return None
        if retry_after is not None:
            return float(retry_after) if retry_after <= self.max_retry_after_s else None
        import random

        backoff = min(self.max_delay_s, self.base_delay_s * (2.0**attempt))
        return backoff * (0.5 + random.random() / 2)


class EndpointClient:
    """HTTP access to one server (root URL plus OpenAI base)."""

    def __init__(
        self,
        *,
        root: str,
        api_base: str,
        headers: dict[str, str] | None = None,
        key_name: str | None = None,
        key_reader: KeyReader | None = None,
        connect_timeout_s: float = 2.0,
        read_timeout_s: float = 600.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.root = root.rstrip("/")
        self.api_base = api_base.rstrip("/")
        self.key_name = key_name
        self._headers = dict(headers or {})
        self._key_reader = key_reader
        self._key: str | None = None
        self._timeout = Timeouts(
            connect=connect_timeout_s, read=read_timeout_s, write=30.0, pool=30.0
        )
        self._transport = transport
        self._client: httpx.AsyncClient | None = None
        self._closed = False

    # -- lifecycle --------------------------------------------------------------------
    @property
    def client(self) -> httpx.AsyncClient:
        """The underlying client (created on first use)."""
        if self._client is None:
            if self._closed:
                raise ProviderUnavailableError(
                    f"the connection to {self.root} was closed: its plugin was reloaded or "
                    "unloaded",
                    hint="retry the request; it will use the plugin's current version",
                    endpoint=self.root,
                )
            import httpx

            self._client = httpx.AsyncClient(
                timeout=self._timeout,
                headers={"user-agent": "llf-host", **self._headers},
                transport=self._transport,
                limits=httpx.Limits(max_keepalive_connections=8, keepalive_expiry=30.0),
                trust_env=False,
            )
        return self._client

    async def aclose(self) -> None:
        """Close the connection pool (idempotent)."""
        self._closed = True
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()

    # -- auth -----------------------------------------------------------------------
    def auth_headers(self, ctx: ErrorContext) -> dict[str, str]:
        """``Authorization`` when a key is configured; typed errors when it is missing."""
        if not self.key_name:
            return {}
        if self._key is None:
            if self._key_reader is None:
                raise AuthenticationError(
                    f"{ctx.where} needs the key `{self.key_name}` but no key store is available",
                    hint=f"store it with `llf-host keys set {self.key_name}`",
                    **ctx.data(key=self.key_name, reason="key_missing"),
                )
            try:
                self._key = self._key_reader(self.key_name)
            except KeyStoreLocked as exc:
                raise AuthenticationError(
                    f"{ctx.where} needs the key `{self.key_name}`, and the key store is locked",
                    hint=exc.hint or "unlock the key store (LLF_HOST_PASSPHRASE)",
                    **ctx.data(key=self.key_name, reason="key_store_locked"),
                ) from None
            except KeyNotFoundError as exc:
                raise AuthenticationError(
                    f"{ctx.where} needs the key `{self.key_name}`: {exc.message}",
                    hint=f"store it with `llf-host keys set {self.key_name}`",
                    **ctx.data(key=self.key_name, reason="key_missing"),
                ) from None
            except KeyStoreError as exc:
                raise AuthenticationError(
                    f"{ctx.where} needs the key `{self.key_name}`, and the key store "
                    f"failed: {exc.message}",
                    hint=exc.hint or "check the key store with `llf-host keys list`",
                    **ctx.data(key=self.key_name, reason="key_store_error"),
                ) from None
        return {"authorization": f"Bearer {self._key}"} if self._key else {}

    def forget_key(self) -> None:
        """Drop the cached key (after a 401, so a rotated key is read again)."""
        self._key = None

    # -- requests -------------------------------------------------------------------
    def url(self, path: str, *, native: bool = False) -> str:
        """``path`` under the OpenAI base, or under the server root when ``native``."""
        return (self.root if native else self.api_base) + path

    async def get(
        self, ctx: ErrorContext, url: str, *, timeout: Timeouts | float | None = None
    ) -> httpx.Response:
        """A GET whose transport failures become typed errors (status not checked)."""
        import httpx

        headers = self.auth_headers(ctx)
        try:
            if timeout is None:
                return await self.client.get(url, headers=headers)
            return await self.client.get(url, headers=headers, timeout=timeout)
        except httpx.HTTPError as exc:
            raise error_from_transport(ctx, exc) from None

    @contextlib.asynccontextmanager
    async def open(
        self,
        ctx: ErrorContext,
        method: str,
        url: str,
        *,
        body: bytes | None = None,
        policy: RetryPolicy | None = None,
        on_retry: Callable[[ProviderError, float], None] | None = None,
    ) -> AsyncIterator[httpx.Response]:
        """Send a request and yield the (streaming) 2xx response.

        Connection errors, 429 and 503 are retried with backoff (honouring
        ``Retry-After``) up to ``policy.retries`` times; anything else non-2xx
        raises the mapped typed error at once.
        """
        import httpx

        policy = policy or RetryPolicy()
        headers = {"content-type": "application/json", **self.auth_headers(ctx)}
        attempt = 0
        while True:
            request = self.client.build_request(method, url, content=body, headers=headers)
            error: ProviderError
            try:
                response = await self.client.send(request, stream=True)
            except httpx.HTTPError as exc:
                error = error_from_transport(ctx, exc)
                retryable = isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout)
                retry_after = None
            else:
                if response.is_success:
                    try:
                        yield response
                    finally:
                        await response.aclose()
                    return
                try:
                    raw = await _read_capped(response)
                except httpx.HTTPError as exc:
                    raw = f"(body unreadable: {exc})".encode()
                finally:
                    await response.aclose()
                error = error_from_status(ctx, response.status_code, raw, response.headers)
                if response.status_code in {401, 403}:
                    self.forget_key()
                retryable = response.status_code in _RETRY_STATUSES
                raw_after = error.data.get("retry_after")
                retry_after = float(raw_after) if isinstance(raw_after, int | float) else None
            delay = policy.delay(attempt, retry_after) if retryable else None
            if delay is None:
                error.data["attempts"] = attempt + 1
                raise error
            log.info(
                "%s: %s; retrying in %.2f s (attempt %d of %d)",
                ctx.provider,
                error.message,
                delay,
                attempt + 2,
                policy.retries + 1,
            )
            if on_retry is not None:
                on_retry(error, delay)
            await asyncio.sleep(delay)
            attempt += 1

    async def post_json(self, ctx: ErrorContext, url: str, payload: Any) -> Any:
        """POST ``payload`` and decode the JSON answer (typed errors on failure)."""
        import httpx

        async with self.open(ctx, "POST", url, body=msgspec.json.encode(payload)) as response:
            try:
                raw = await response.aread()
            except httpx.HTTPError as exc:
                raise error_from_transport(ctx, exc, streaming=True) from None
        return msgspec.json.decode(raw) if raw else None


async def _read_capped(response: httpx.Response) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        chunks.append(chunk)
        size += len(chunk)
        if size >= _MAX_ERROR_BODY:
            break
    return b"".join(chunks)[:_MAX_ERROR_BODY]
