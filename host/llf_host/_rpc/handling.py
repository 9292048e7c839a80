"""What method handlers use besides their context: param errors and plugin limits.

``InvalidParams`` answers -32602 for a rule a params type cannot express;
``plugin_slot`` (from :mod:`llf_host._plugin_limit`) bounds concurrent calls
into one plugin (``[host] plugin_concurrency``), so a slow plugin queues its own
requests, not everyone's.
"""

from __future__ import annotations

from .._plugin_limit import LIMITER_SERVICE
from .._plugin_limit import PluginLimiter
from .._plugin_limit import plugin_slot

__all__ = ["LIMITER_SERVICE", "InvalidParams", "PluginLimiter", "plugin_slot"]


class InvalidParams(Exception):
    """Raise from a handler to answer -32602 for a param its type cannot express.

    :param field: the param path (``messages[0].role``).
    :param reason: what is wrong with it.
    :param hint: what to send instead.
    """

    def __init__(self, field: str, reason: str, hint: str | None = None) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason
        self.hint = hint
