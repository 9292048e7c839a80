"""Built-in plugin: MLX-format models in process with mlx-lm.

Importing this module is cheap: ``mlx`` and ``mlx_lm`` are imported on the first
model load. See docs/engines.md for the ``[plugins.mlx]`` settings.
"""

from __future__ import annotations

from llf_host import PluginContext
from llf_host import hookimpl

from .provider import MlxProvider
from .settings import parse_settings


@hookimpl
def llf_providers(context: PluginContext) -> MlxProvider:
    """The mlx provider, configured from ``[plugins.mlx]``."""
    return MlxProvider(parse_settings(context.config))
