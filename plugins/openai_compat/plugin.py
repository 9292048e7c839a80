"""HTTP engines: Ollama, vLLM, LM Studio, llama-server, mlx_lm.server, OpenAI and more.

Contributes one provider per prefix (``ollama/``, its alias ``ollama_chat/``,
``vllm/``, ``lm_studio/``, ``llamacpp/``, ``mlx_server/``, ``openai/``, plus one
per ``[plugins.openai_compat.endpoints.<name>]``). Loading does no I/O: servers
are detected, listed and probed on first use. See docs/http-engines.md.
"""

from __future__ import annotations

import logging
from typing import Any

from llf_host import PluginContext
from llf_host import Provider
from llf_host import hookimpl

from .endpoint import Shared
from .engine import Engine
from .fingerprint import Detector
from .managed import ManagedEngines
from .provider import HTTPProvider
from .provider import OllamaProvider
from .settings import engine_configs
from .settings import load_settings

log = logging.getLogger("llf.plugin.openai_compat")

_DESCRIPTIONS = {
    "ollama": "Ollama (native /api/chat)",
    "vllm": "vLLM's OpenAI-compatible server",
    "lm_studio": "LM Studio's local server",
    "llamacpp": "llama.cpp's llama-server (or llama-cpp-python's server)",
    "mlx_server": "mlx_lm.server",
    "openai": "OpenAI API (key OPENAI_API_KEY)",
}


class PluginState:
    """Everything one load of the plugin owns; closed on shutdown."""

    def __init__(self, context: PluginContext) -> None:
        settings = load_settings(context.config)
        self.detector = Detector(
            probe_timeout_s=settings.probe_timeout_s, ttl_s=min(settings.discovery_ttl_s, 30.0)
        )
        self.shared = Shared(settings=settings, detector=self.detector, key_reader=context.key)
        self.engines: list[Engine] = []
        self.providers: list[Provider] = []
        self.managed = ManagedEngines(context.log)
        for config in engine_configs(settings):
            engine = Engine(config, self.shared)
            self.engines.append(engine)
            if config.settings.managed is not None:
                self.managed.attach(engine, config.settings.managed)
            description = config.settings.description or _DESCRIPTIONS.get(
                config.prefix, f"OpenAI-compatible endpoint {config.addresses[0].display}"
            )
            if config.kind == "ollama" and not config.custom:
                self.providers.append(OllamaProvider(engine, description=description))
                self.providers.append(
                    OllamaProvider(
                        engine,
                        prefix="ollama_chat",
                        description="alias of ollama/ (native /api/chat)",
                    )
                )
            else:
                self.providers.append(HTTPProvider(engine, description=description))

    async def aclose(self) -> None:
        """Stop managed engines, close every client."""
        await self.managed.aclose()
        for engine in self.engines:
            await engine.aclose()
        await self.detector.aclose()


_state: PluginState | None = None


@hookimpl
def llf_providers(context: PluginContext) -> list[Provider]:
    """One provider per prefix; nothing is contacted yet."""
    global _state
    _state = PluginState(context)
    return list(_state.providers)


@hookimpl
def llf_startup(host: Any, context: PluginContext) -> None:
    """Point users of a top-level ``[endpoints]`` table at the section this plugin reads."""
    stray = host.config.section("endpoints")
    if stray:
        context.log.warning(
            "config [endpoints] is not read by openai_compat: move each [endpoints.<name>] "
            "table to [plugins.openai_compat.endpoints.<name>] (see docs/http-engines.md)"
        )


@hookimpl
async def llf_shutdown(context: PluginContext) -> None:
    """Stop managed engines and close HTTP clients."""
    global _state
    state, _state = _state, None
    if state is not None:
        await state.aclose()
