"""Running tools: the host side of the sandbox (``host.services["tools"]``).

See :mod:`llf_host._tools._runner` for the order of checks a call goes through,
:mod:`llf_host._tools._grants` for how permissions are decided and
:mod:`llf_host._tools._approval` for the ``tools/approve`` client request.
"""

from __future__ import annotations

from ._approval import ApprovalAnswer
from ._approval import ApprovalRequest
from ._approval import Approver
from ._approval import client_approver
from ._grants import EffectiveGrants
from ._grants import effective_grants
from ._runner import ToolResult
from ._runner import ToolRunner
from ._runner import get_tool_runner
from ._settings import SandboxSettings
from ._settings import load_settings

__all__ = [
    "ApprovalAnswer",
    "ApprovalRequest",
    "Approver",
    "EffectiveGrants",
    "SandboxSettings",
    "ToolResult",
    "ToolRunner",
    "client_approver",
    "effective_grants",
    "get_tool_runner",
    "load_settings",
]
