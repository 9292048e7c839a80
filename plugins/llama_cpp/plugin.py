"""Built-in plugin: GGUF models in process with llama-cpp-python.

Importing this module is cheap: ``llama_cpp`` is imported on the first model
load. See docs/engines.md for the ``[plugins.llama_cpp]`` settings.
"""

from __future__ import annotations

from typing import Any

from llf_host import PluginContext
from llf_host import hookimpl

from .provider import LlamaCppProvider
from .settings import parse_settings


@hookimpl
def llf_providers(context: PluginContext) -> LlamaCppProvider:
    """The llama_cpp provider, configured from ``[plugins.llama_cpp]``."""
    return LlamaCppProvider(parse_settings(context.config))


@hookimpl
def llf_startup(host: Any, context: PluginContext) -> None:
    """Point the provider at the host's cache and config folders."""
    entry = host.registry.providers.get(LlamaCppProvider.prefix)
    if entry is not None and entry.plugin == context.name:
        entry.obj.set_host_dirs(host.paths.cache_dir / "models", host.paths.config_dir)
