"""llf-host: an extension host for local LLM work.

The public API is what ``__all__`` lists; every other module is private.
"""

from __future__ import annotations

import msgspec as _msgspec

from ._config import Config
from ._context import PluginContext
from ._contracts import Auditor
from ._contracts import Exporter
from ._contracts import Provider
from ._contracts import Tool
from ._contracts import ToolLimits
from ._errors import AuthenticationError
from ._errors import BudgetExceededError
from ._errors import ConfigError
from ._errors import ContextLengthError
from ._errors import ConversationNotFoundError
from ._errors import KeyNotFoundError
from ._errors import KeyStoreCorrupt
from ._errors import KeyStoreError
from ._errors import KeyStoreLocked
from ._errors import LLMError
from ._errors import ManifestError
from ._errors import MemoryStoreError
from ._errors import ModelLoadingError
from ._errors import ModelNotFoundError
from ._errors import NotAvailableError
from ._errors import PluginError
from ._errors import ProviderError
from ._errors import ProviderResponseError
from ._errors import ProviderUnavailableError
from ._errors import QueueFullError
from ._errors import RateLimitedError
from ._errors import SandboxDenied
from ._errors import ToolArgumentsInvalid
from ._errors import ToolCrashed
from ._errors import ToolDenied
from ._errors import ToolError
from ._errors import ToolNotFoundError
from ._errors import ToolOutputTooLarge
from ._errors import ToolResourceLimit
from ._errors import ToolTimeout
from ._host import Host
from ._memory_contract import Conversation
from ._memory_contract import ConversationExport
from ._memory_contract import MemoryBackend
from ._memory_contract import MemoryItem
from ._memory_contract import ParsedQuery
from ._memory_contract import QueryTerm
from ._memory_contract import SearchHit
from ._memory_contract import SearchQuery
from ._memory_contract import StoredMessage
from ._memory_contract import TrashItem
from ._paths import HostPaths
from ._routing import Budget
from ._routing import RouteRule
from ._routing import RoutingPolicy
from ._routing import current_budget
from ._routing import get_router
from ._routing import use_budget
from ._stops import StopMatcher
from ._types import AuditEvent
from ._types import ChatChunk
from ._types import ChatOptions
from ._types import ChatRequest
from ._types import ChatResult
from ._types import FunctionCall
from ._types import HealthStatus
from ._types import Message
from ._types import ModelInfo
from ._types import Timings
from ._types import ToolCall
from ._types import ToolCallDelta
from ._types import ToolDefinition
from ._types import Usage
from ._version import HOST_API_VERSION
from ._version import __version__
from .hookspecs import hookimpl

__all__ = [
    "HOST_API_VERSION",
    "AuditEvent",
    "Auditor",
    "AuthenticationError",
    "Budget",
    "BudgetExceededError",
    "ChatChunk",
    "ChatOptions",
    "ChatRequest",
    "ChatResult",
    "Config",
    "ConfigError",
    "ContextLengthError",
    "Conversation",
    "ConversationExport",
    "ConversationNotFoundError",
    "Exporter",
    "FunctionCall",
    "HealthStatus",
    "Host",
    "HostPaths",
    "KeyNotFoundError",
    "KeyStoreCorrupt",
    "KeyStoreError",
    "KeyStoreLocked",
    "LLMError",
    "ManifestError",
    "MemoryBackend",
    "MemoryItem",
    "MemoryStoreError",
    "Message",
    "ModelInfo",
    "ModelLoadingError",
    "ModelNotFoundError",
    "NotAvailableError",
    "ParsedQuery",
    "PluginContext",
    "PluginError",
    "Provider",
    "ProviderError",
    "ProviderResponseError",
    "ProviderUnavailableError",
    "QueryTerm",
    "QueueFullError",
    "RateLimitedError",
    "RouteRule",
    "RoutingPolicy",
    "SandboxDenied",
    "SearchHit",
    "SearchQuery",
    "StopMatcher",
    "StoredMessage",
    "Timings",
    "Tool",
    "ToolArgumentsInvalid",
    "ToolCall",
    "ToolCallDelta",
    "ToolCrashed",
    "ToolDefinition",
    "ToolDenied",
    "ToolError",
    "ToolLimits",
    "ToolNotFoundError",
    "ToolOutputTooLarge",
    "ToolResourceLimit",
    "ToolTimeout",
    "TrashItem",
    "Usage",
    "__version__",
    "current_budget",
    "get_router",
    "hookimpl",
    "use_budget",
]

for _name in __all__:
    _obj = globals()[_name]
    # msgspec resolves a Struct's postponed annotations in its __module__'s globals,
    # so Structs keep their real module (renaming them breaks decoding).
    if (
        isinstance(_obj, type)
        and _obj.__module__.startswith("llf_host._")
        and not issubclass(_obj, _msgspec.Struct)
    ):
        try:
            _obj.__module__ = "llf_host"
        except (AttributeError, TypeError):
            pass
del _name, _obj, _msgspec
