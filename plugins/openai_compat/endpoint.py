"""One server of an engine: its address, wire profile, HTTP client and traffic.

:class:`Shared` is what every engine of one plugin load shares (settings, the
detector, the key reader); :class:`Endpoint` is one address serving a prefix,
with the profile its fingerprint chose and the requests streaming from it now.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import msgspec

from llf_host import HealthStatus

from .errors import ErrorContext
from .fingerprint import Detector
from .profiles import EngineKind
from .profiles import EngineProfile
from .profiles import profile_for
from .settings import Address
from .settings import PluginSettings
from .transport import EndpointClient
from .transport import KeyReader

if TYPE_CHECKING:
    import httpx

    from .engine import Engine

__all__ = ["Endpoint", "Shared"]


class Shared(msgspec.Struct):
    """What every engine of one plugin load shares."""

    settings: PluginSettings
    detector: Detector
    key_reader: KeyReader | None = None
    transport: httpx.AsyncBaseTransport | None = None


class Endpoint:
    """One server of an engine: its address, wire profile and HTTP client."""

    def __init__(
        self,
        engine: Engine,
        address: Address,
        kind: EngineKind,
        *,
        identified: bool,
    ) -> None:
        self.engine = engine
        self.address = address
        self.kind: EngineKind = kind
        #: False until a fingerprint confirmed ``kind`` (only asked where kinds share a prefix).
        self.identified = identified
        settings = engine.config.settings
        profile = profile_for(kind)
        self.client = EndpointClient(
            root=address.root,
            api_base=address.api_base,
            headers=settings.headers,
            key_name=settings.key,
            key_reader=engine.shared.key_reader,
            connect_timeout_s=settings.connect_timeout_s
            or engine.shared.settings.connect_timeout_s,
            read_timeout_s=settings.read_timeout_s or profile.read_timeout_s,
            transport=engine.shared.transport,
        )
        #: Requests streaming from this endpoint now.
        self.inflight = 0
        #: Set by :meth:`Engine.aclose`: close the client once nothing streams.
        self.closing = False
        self.last_health: HealthStatus | None = None
        #: Cleared when the server rejects ``stream_options``.
        self.stream_usage = (
            settings.stream_usage if settings.stream_usage is not None else profile.stream_usage
        )

    @property
    def profile(self) -> EngineProfile:
        """The wire profile of this endpoint's engine."""
        return profile_for(self.kind)

    @contextlib.asynccontextmanager
    async def streaming(self) -> AsyncIterator[None]:
        """Count a request in flight (health, listing and detection hold off meanwhile).

        When the engine was closed meanwhile (plugin reloaded or unloaded), the
        last request to finish closes the client: running streams are not cut.
        """
        disturbs = self.profile.poll_disturbs_streams
        busy = self.engine.shared.detector.busy
        self.inflight += 1
        if disturbs:
            busy[self.address.display] += 1
        try:
            yield
        finally:
            self.inflight -= 1
            if disturbs:
                busy[self.address.display] -= 1
            if self.closing and not self.inflight:
                await self.client.aclose()

    def ctx(self, model: str | None = None) -> ErrorContext:
        """Error context naming this endpoint (and the model, when there is one)."""
        engine = self.engine
        table = "endpoints" if engine.config.custom else "engines"
        return ErrorContext(
            provider=engine.prefix,
            profile=self.profile,
            address=self.address.display,
            model=model,
            key_name=engine.config.settings.key,
            section=f"[plugins.openai_compat.{table}.{engine.prefix}]",
        )

    def __repr__(self) -> str:
        return f"<Endpoint {self.engine.prefix} {self.kind} {self.address.display}>"
