"""The persona provider: ``persona/<name>`` is another model with a fixed system prompt.

Each request is sent to the wrapped model with the persona's system prompt first
(replacing any system prompt of the request), and its chunks are streamed back
unchanged. The wrapped provider is looked up in the host's registry at every call,
so it can be reloaded, or loaded after this plugin, without trouble.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from msgspec import structs

from llf_host import ChatChunk
from llf_host import ChatRequest
from llf_host import HealthStatus
from llf_host import Host
from llf_host import Message
from llf_host import ModelInfo
from llf_host import ModelNotFoundError
from llf_host import Provider
from llf_host import ProviderUnavailableError


@dataclass(frozen=True)
class Persona:
    """A model and the system prompt it gets."""

    model: str
    system: str
    description: str = ""


class PersonaProvider(Provider):
    prefix = "persona"
    description = "Any model behind a fixed system prompt"

    def __init__(self, personas: dict[str, Persona], host: Callable[[], Host | None]) -> None:
        self.personas = personas
        self._host = host

    async def list_models(self) -> list[ModelInfo]:
        return [
            ModelInfo(
                id=f"{self.prefix}/{name}",
                name=name,
                provider=self.prefix,
                description=persona.description or f"{persona.model} with a system prompt",
                details={"wraps": persona.model},
            )
            for name, persona in sorted(self.personas.items())
        ]

    async def health(self) -> HealthStatus:
        if self._host() is None:
            return HealthStatus(state="loading", message="waiting for the host to start")
        return HealthStatus(state="ready", message=f"{len(self.personas)} persona(s)")

    def _target(self, request: ChatRequest) -> tuple[Provider, ChatRequest]:
        persona = self.personas.get(request.model)
        if persona is None:
            raise ModelNotFoundError(
                f"no persona {request.model!r}",
                hint=f"define it under [plugins.persona.personas.{request.model}] "
                f"(known: {', '.join(sorted(self.personas)) or 'none'})",
                model=f"{self.prefix}/{request.model}",
            )
        host = self._host()
        if host is None:
            raise ProviderUnavailableError(
                "the persona provider is not started yet", hint="retry in a moment"
            )
        entry, name = host.registry.resolve_model(persona.model)
        messages = [Message(role="system", content=persona.system)]
        messages += [m for m in request.messages if m.role != "system"]
        return entry.obj, structs.replace(request, model=name, messages=messages)

    async def chat(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        provider, inner = self._target(request)
        async for chunk in provider.chat(inner):
            yield chunk


def personas_from_config(raw: dict[str, Any]) -> dict[str, Persona]:
    """``[plugins.persona.personas]`` (already validated against the manifest's schema)."""
    personas = {name: Persona(**spec) for name, spec in raw.items()}
    for name, persona in personas.items():
        if persona.model.startswith(f"{PersonaProvider.prefix}/"):
            raise ValueError(f"persona {name!r} wraps another persona ({persona.model})")
    return personas
