"""persona: models with a fixed system prompt, configured in config.toml::

    [plugins.persona.personas.reviewer]
    model = "llama_cpp/default"
    system = "You review code. Point out bugs first, style last. Be brief."

then ``llf-host chat -m persona/reviewer "..."``.
"""

from __future__ import annotations

from llf_host import Host
from llf_host import PluginContext
from llf_host import PluginError
from llf_host import hookimpl

from .persona import PersonaProvider
from .persona import personas_from_config

#: The running host, set at start-up (this module is fresh for each plugin version).
_running: dict[str, Host] = {}


@hookimpl
def llf_providers(context: PluginContext) -> PersonaProvider:
    try:
        personas = personas_from_config(context.config.get("personas", {}))
    except ValueError as exc:
        raise PluginError(
            f"[plugins.persona] {exc}",
            hint="point each persona at a model of another provider",
            plugin=context.name,
        ) from None
    return PersonaProvider(personas, host=lambda: _running.get("host"))


@hookimpl
def llf_startup(host: Host) -> None:
    _running["host"] = host


@hookimpl
def llf_shutdown() -> None:
    _running.clear()
