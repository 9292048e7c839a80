"""Telling engines apart by how they answer, never by their port.

Several engines share ports (8000: vLLM and llama-cpp-python's server; 8080:
llama-server and mlx_lm.server), so :func:`classify` looks at the answers to a
few cheap GETs:

=====================  =====================================================
``GET /``              Ollama answers 200 "Ollama is running"
``GET /api/v0/models`` LM Studio lists models with a ``state`` field
``GET /v1/models``     ``owned_by``: "llamacpp" (llama-server), "vllm", "me"
                       (llama-cpp-python)
``GET /health``        llama-server: 503 ``unavailable_error`` while loading,
                       200 ``{"status": "ok"}``; vLLM: 200 with an empty body;
                       mlx_lm.server: 200 ``{"status": "ok"}``
``GET /props``         llama-server only (mlx_lm.server answers 404)
=====================  =====================================================

:class:`Detector` runs the probes concurrently with a short connect timeout,
on loopback addresses unless configured otherwise, caches the results, and is
only ever called on demand (discovery, health), never at import or start-up.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from typing import TYPE_CHECKING
from typing import Any

import msgspec

from .profiles import PROFILES
from .profiles import EngineKind
from .settings import Address
from .settings import parse_address
from .transport import Timeouts

if TYPE_CHECKING:
    import httpx

__all__ = ["DEFAULT_SCAN", "Detector", "Fingerprint", "Probe", "classify"]

log = logging.getLogger("llf.plugin.openai_compat")

#: Loopback addresses auto-detection looks at: every engine's usual ports.
DEFAULT_SCAN: tuple[Address, ...] = tuple(
    parse_address(f"127.0.0.1:{port}")
    for port in sorted({p for profile in PROFILES.values() for p in profile.ports})
)

_LLAMA_PROPS_KEYS = ("default_generation_settings", "build_info", "total_slots", "model_path")


class Probe(msgspec.Struct, frozen=True):
    """The answer to one probe GET (``status`` None: nothing answered)."""

    status: int | None
    body: bytes = b""

    def json(self) -> Any:
        """The body as JSON, or None."""
        if not self.body:
            return None
        try:
            return msgspec.json.decode(self.body)
        except msgspec.DecodeError:
            return None


class Fingerprint(msgspec.Struct, frozen=True):
    """What listens at an address."""

    address: Address
    #: The engine, "generic" for an unidentified OpenAI-compatible server, or None.
    kind: EngineKind | None
    #: Why we think so (for `llf-host doctor`).
    evidence: str
    #: The engine is up but still loading its model.
    loading: bool = False

    @property
    def up(self) -> bool:
        """Something answered at this address."""
        return self.evidence != "no answer"


def _owned_by(models: Probe) -> set[str]:
    data = models.json()
    items = data.get("data") if isinstance(data, dict) else None
    if not isinstance(items, list):
        return set()
    return {str(m.get("owned_by")) for m in items if isinstance(m, dict) and "owned_by" in m}


def _is_model_list(probe: Probe) -> bool:
    data = probe.json()
    return probe.status == 200 and isinstance(data, dict) and isinstance(data.get("data"), list)


def _lm_studio(v0: Probe) -> bool:
    data = v0.json()
    items = data.get("data") if isinstance(data, dict) else None
    if v0.status != 200 or not isinstance(items, list):
        return False
    return not items or any(isinstance(m, dict) and "state" in m for m in items)


def _loading_health(health: Probe) -> bool:
    if health.status != 503:
        return False
    text = health.body.decode("utf-8", errors="replace").lower()
    return "unavailable_error" in text or "loading" in text


def _ok_health(health: Probe) -> bool:
    data = health.json()
    return health.status == 200 and isinstance(data, dict) and data.get("status") == "ok"


def classify(
    address: Address,
    *,
    root: Probe,
    health: Probe,
    models: Probe,
    v0: Probe,
    props: Probe | None = None,
) -> Fingerprint | None:
    """Decide from the first round of probes; None means "probe ``/props`` too".

    ``props`` is the answer to ``GET /props``, asked for only when ``/health``
    says ``{"status": "ok"}`` and nothing else decided (llama-server or mlx).
    """
    if all(p.status is None for p in (root, health, models, v0)):
        return Fingerprint(address, None, "no answer")
    if root.status == 200 and b"Ollama is running" in root.body:
        return Fingerprint(address, "ollama", 'GET / says "Ollama is running"')
    if _lm_studio(v0):
        return Fingerprint(address, "lm_studio", "GET /api/v0/models lists models with a state")
    owners = _owned_by(models)
    if "llamacpp" in owners:
        return Fingerprint(address, "llama_server", 'GET /v1/models: owned_by "llamacpp"')
    if "vllm" in owners:
        return Fingerprint(address, "vllm", 'GET /v1/models: owned_by "vllm"')
    if "me" in owners and health.status == 404:
        return Fingerprint(address, "llama_cpp_python", 'GET /v1/models: owned_by "me", no /health')
    if _loading_health(health):
        return Fingerprint(
            address, "llama_server", "GET /health: 503 unavailable_error", loading=True
        )
    if _ok_health(health):
        if props is None:
            return None
        data = props.json()
        if (
            props.status == 200
            and isinstance(data, dict)
            and any(k in data for k in _LLAMA_PROPS_KEYS)
        ):
            return Fingerprint(address, "llama_server", "GET /props answers with server props")
        return Fingerprint(address, "mlx_server", 'GET /health is {"status": "ok"}, no /props')
    if health.status == 200 and not health.body.strip():
        return Fingerprint(address, "vllm", "GET /health: 200 with an empty body")
    if _is_model_list(models):
        return Fingerprint(address, "generic", "GET /v1/models answers; engine not recognised")
    return Fingerprint(address, None, "something answers, but not like a known engine")


class Detector:
    """Probes addresses and remembers what it found for ``ttl_s`` seconds."""

    def __init__(
        self,
        *,
        probe_timeout_s: float = 0.5,
        ttl_s: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
        addresses: tuple[Address, ...] = DEFAULT_SCAN,
    ) -> None:
        #: What :meth:`scan` looks at by default (the usual loopback ports).
        self.addresses = addresses
        self._timeout = Timeouts(connect=probe_timeout_s, read=3.0, write=3.0, pool=3.0)
        self._ttl = ttl_s
        self._transport = transport
        self._client: httpx.AsyncClient | None = None
        self._cache: dict[str, tuple[float, Fingerprint]] = {}
        self._lock = asyncio.Lock()
        #: Addresses streaming now from a server that probing would disturb
        #: (llama-cpp-python cuts a running stream when another request arrives).
        self.busy: collections.Counter[str] = collections.Counter()

    @property
    def client(self) -> httpx.AsyncClient:
        """The probing client (created on first use)."""
        if self._client is None:
            import httpx

            self._client = httpx.AsyncClient(
                timeout=self._timeout, transport=self._transport, trust_env=False
            )
        return self._client

    async def aclose(self) -> None:
        """Close the probing client."""
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()

    def forget(self) -> None:
        """Drop cached results (the next scan probes again)."""
        self._cache.clear()

    async def _get(self, url: str) -> Probe:
        import httpx

        try:
            response = await self.client.get(url)
        except httpx.HTTPError:
            return Probe(None)
        return Probe(response.status_code, response.content[:65536])

    async def identify(self, address: Address) -> Fingerprint:
        """What listens at ``address`` (probed now, not cached)."""
        base = address.root
        root, health, models, v0 = await asyncio.gather(
            self._get(base + "/"),
            self._get(base + "/health"),
            self._get(base + "/v1/models"),
            self._get(base + "/api/v0/models"),
        )
        found = classify(address, root=root, health=health, models=models, v0=v0)
        if found is None:
            props = await self._get(base + "/props")
            found = classify(address, root=root, health=health, models=models, v0=v0, props=props)
        assert found is not None
        log.debug("fingerprint %s: %s (%s)", address.display, found.kind, found.evidence)
        return found

    async def scan(
        self, addresses: tuple[Address, ...] | None = None, *, refresh: bool = False
    ) -> list[Fingerprint]:
        """Fingerprints of ``addresses`` (cached ones younger than the TTL are reused)."""
        if addresses is None:
            addresses = self.addresses
        async with self._lock:
            now = time.monotonic()
            todo = [
                a
                for a in addresses
                if a.display not in self._cache
                or (
                    (refresh or now - self._cache[a.display][0] > self._ttl)
                    and not self.busy[a.display]
                )
            ]
            if todo:
                found = await asyncio.gather(*(self.identify(a) for a in todo))
                stamp = time.monotonic()
                for fingerprint in found:
                    self._cache[fingerprint.address.display] = (stamp, fingerprint)
            return [self._cache[a.display][1] for a in addresses]
