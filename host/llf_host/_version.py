"""Version numbers: the package's and the plugin API's."""

from __future__ import annotations

__all__ = ["HOST_API_VERSION", "__version__"]

#: Version of the llf-host package.
__version__ = "0.1.0"

#: Version of the plugin API (hookspecs, contracts, manifest format).
#: Plugins declare the one they need in ``[plugin] host_api``; same major and a
#: minor no newer than this one is compatible.
HOST_API_VERSION = "1.0"
