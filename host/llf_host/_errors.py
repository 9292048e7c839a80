"""The host's exception tree.

Every error the host raises, or lets a plugin raise across its API, is an
:class:`LLMError`. Each class carries a JSON-RPC ``code`` (the host's own range,
-32099..-32000 is left to JSON-RPC and -32899..-32800 to LSP, so ours live in
-31999..-31000), a human message that says *what happened and what to do*, and
``data``: a machine-readable dict (which plugin, which limit, a ``hint``).

::

    LLMError
    ├── ConfigError                 config file or section is invalid
    ├── PluginError                 a plugin failed (import, hook, call)
    │   └── ManifestError           plugin.toml is invalid
    ├── NotAvailableError           no plugin provides the feature / method family
    ├── ProviderError               anything a model provider reports
    │   ├── ProviderUnavailableError    engine down / not running
    │   ├── ModelLoadingError           engine up, model still loading (retry)
    │   ├── ModelNotFoundError          no such model (with the fix: pull it, check the id)
    │   ├── ContextLengthError          prompt does not fit the context window
    │   ├── RateLimitedError            429 / local token bucket empty (retry_after)
    │   ├── AuthenticationError         key missing / rejected
    │   └── ProviderResponseError       malformed or truncated response
    ├── BudgetExceededError         a budget would be overspent
    ├── QueueFullError              a bounded request queue is full
    ├── ToolError                   anything about a tool call
    │   ├── ToolNotFoundError
    │   ├── ToolArgumentsInvalid        JSON Schema validation failed (before running)
    │   ├── ToolTimeout                 wall clock or CPU limit
    │   ├── ToolResourceLimit           memory, file size, processes, open files
    │   ├── ToolCrashed                 signal / non-zero exit / bad result frame
    │   ├── ToolOutputTooLarge
    │   ├── ToolDenied                  approval refused by the user
    │   └── SandboxDenied               isolation refused an action or is unavailable
    ├── KeyStoreError               key store problems
    │   ├── KeyStoreLocked              no passphrase source
    │   ├── KeyStoreCorrupt             wrong passphrase, tampered or truncated file
    │   └── KeyNotFoundError
    └── MemoryStoreError            memory backend problems
        └── ConversationNotFoundError

Misuse of the Python API (calling things in the wrong order) raises
``RuntimeError``/``TypeError`` subclasses instead: those are bugs in the caller, not
conditions a user can fix.
"""

from __future__ import annotations

from typing import Any
from typing import ClassVar

__all__ = [
    "AuthenticationError",
    "BudgetExceededError",
    "ConfigError",
    "ContextLengthError",
    "ConversationNotFoundError",
    "KeyNotFoundError",
    "KeyStoreCorrupt",
    "KeyStoreError",
    "KeyStoreLocked",
    "LLMError",
    "ManifestError",
    "MemoryStoreError",
    "ModelLoadingError",
    "ModelNotFoundError",
    "NotAvailableError",
    "PluginError",
    "ProviderError",
    "ProviderResponseError",
    "ProviderUnavailableError",
    "QueueFullError",
    "RateLimitedError",
    "SandboxDenied",
    "ToolArgumentsInvalid",
    "ToolCrashed",
    "ToolDenied",
    "ToolError",
    "ToolNotFoundError",
    "ToolOutputTooLarge",
    "ToolResourceLimit",
    "ToolTimeout",
    "error_from_wire",
]


class LLMError(Exception):
    """Base of every error the host reports.

    :param message: what happened and what to do next, in one or two sentences.
    :param hint: the fix, when it is worth a field of its own (also put in ``data``).
    :param data: machine-readable context (plugin, model, limit, field...).
    """

    #: JSON-RPC error code used when this error crosses the protocol.
    code: ClassVar[int] = -31000
    #: Stable, machine-readable kind; clients switch on this, not on the message.
    kind: ClassVar[str] = "error"

    def __init__(self, message: str, *, hint: str | None = None, **data: Any) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.data: dict[str, Any] = {k: v for k, v in data.items() if v is not None}

    def __str__(self) -> str:
        if self.hint and self.hint not in self.message:
            return f"{self.message} ({self.hint})"
        return self.message

    def to_wire(self) -> dict[str, Any]:
        """The JSON-RPC ``error`` object for this exception."""
        data: dict[str, Any] = {"kind": self.kind, **self.data}
        if self.hint:
            data["hint"] = self.hint
        return {"code": self.code, "message": self.message, "data": data}

    def __reduce__(self) -> tuple[Any, ...]:
        # Keep errors picklable (they cross process and thread boundaries).
        return (_rebuild, (type(self), self.message, self.hint, self.data))


def _rebuild(cls: type[LLMError], message: str, hint: str | None, data: dict[str, Any]) -> LLMError:
    err = cls.__new__(cls)
    LLMError.__init__(err, message, hint=hint, **data)
    return err


class ConfigError(LLMError):
    """The configuration file or a plugin's config section is invalid."""

    code = -31001
    kind = "config_invalid"


class PluginError(LLMError):
    """A plugin failed: import, hook call or a call into an object it contributed."""

    code = -31010
    kind = "plugin_failed"


class ManifestError(PluginError):
    """A plugin's ``plugin.toml`` is missing, unreadable or invalid."""

    code = -31011
    kind = "manifest_invalid"


class NotAvailableError(LLMError):
    """No loaded plugin provides what was asked for (a method family, an exporter...)."""

    code = -31020
    kind = "not_available"


class ProviderError(LLMError):
    """A model provider reported a problem."""

    code = -31100
    kind = "provider_error"


class ProviderUnavailableError(ProviderError):
    """The engine behind a provider is not reachable (not running, wrong address)."""

    code = -31101
    kind = "provider_unavailable"


class ModelLoadingError(ProviderError):
    """The engine is up but still loading the model; retry later."""

    code = -31102
    kind = "model_loading"


class ModelNotFoundError(ProviderError):
    """No such model: not registered, not pulled, or a typo in the id."""

    code = -31103
    kind = "model_not_found"


class ContextLengthError(ProviderError):
    """The request does not fit the model's context window."""

    code = -31104
    kind = "context_length"


class RateLimitedError(ProviderError):
    """Too many requests; ``data['retry_after']`` says when to try again (seconds)."""

    code = -31105
    kind = "rate_limited"


class AuthenticationError(ProviderError):
    """The key is missing or was rejected by the provider."""

    code = -31106
    kind = "authentication"


class ProviderResponseError(ProviderError):
    """The provider answered something malformed, truncated or unexpected."""

    code = -31107
    kind = "bad_response"


class BudgetExceededError(LLMError):
    """Serving the request would overspend a budget (``data``: budget, limit, spent)."""

    code = -31200
    kind = "budget_exceeded"


class QueueFullError(LLMError):
    """A bounded request queue is full; retry later or raise the limit."""

    code = -31201
    kind = "queue_full"


class ToolError(LLMError):
    """A tool call failed."""

    code = -31300
    kind = "tool_error"


class ToolNotFoundError(ToolError):
    """No tool of that name is registered."""

    code = -31301
    kind = "tool_not_found"


class ToolArgumentsInvalid(ToolError):
    """The arguments do not match the tool's JSON Schema; nothing was run."""

    code = -31302
    kind = "tool_arguments_invalid"


class ToolTimeout(ToolError):
    """The tool ran past its wall-clock or CPU-time limit and was killed."""

    code = -31303
    kind = "tool_timeout"


class ToolResourceLimit(ToolError):
    """The tool hit a resource limit (``data['limit']``: memory, file_size, processes...)."""

    code = -31304
    kind = "tool_resource_limit"


class ToolCrashed(ToolError):
    """The tool died (signal, non-zero exit) or sent an invalid result."""

    code = -31305
    kind = "tool_crashed"


class ToolOutputTooLarge(ToolError):
    """The tool's result or output exceeded the cap."""

    code = -31306
    kind = "tool_output_too_large"


class ToolDenied(ToolError):
    """The user (or client) refused to approve the tool call."""

    code = -31307
    kind = "tool_denied"


class SandboxDenied(ToolError):
    """The sandbox refused an action, or the isolation a tool requires is unavailable."""

    code = -31308
    kind = "sandbox_denied"


class KeyStoreError(LLMError):
    """The key store could not be read or written."""

    code = -31400
    kind = "keystore_error"


class KeyStoreLocked(KeyStoreError):
    """The key store needs a passphrase and none is available."""

    code = -31401
    kind = "keystore_locked"


class KeyStoreCorrupt(KeyStoreError):
    """Wrong passphrase, or the key store file was tampered with or truncated."""

    code = -31402
    kind = "keystore_corrupt"


class KeyNotFoundError(KeyStoreError):
    """No key of that name is stored."""

    code = -31403
    kind = "key_not_found"


class MemoryStoreError(LLMError):
    """A memory backend failed."""

    code = -31500
    kind = "memory_error"


class ConversationNotFoundError(MemoryStoreError):
    """No conversation (or message) with that id, or it is in the trash."""

    code = -31501
    kind = "conversation_not_found"


def _all_error_classes() -> list[type[LLMError]]:
    found: list[type[LLMError]] = []
    stack: list[type[LLMError]] = [LLMError]
    while stack:
        cls = stack.pop()
        found.append(cls)
        stack.extend(cls.__subclasses__())
    return found


def error_from_wire(error: dict[str, Any]) -> LLMError:
    """Rebuild the most specific :class:`LLMError` from a JSON-RPC ``error`` object.

    Used by the client library so callers can ``except ModelNotFoundError``.
    Unknown codes become a plain :class:`LLMError` that keeps code and data.
    """
    code = error.get("code")
    message = str(error.get("message", "unknown error"))
    raw_data = error.get("data")
    data: dict[str, Any] = dict(raw_data) if isinstance(raw_data, dict) else {}
    kind = data.pop("kind", None)
    hint = data.pop("hint", None)
    for cls in _all_error_classes():
        if cls.code == code and (kind is None or cls.kind == kind):
            return cls(message, hint=hint, **data)
    err = LLMError(message, hint=hint, **data)
    err.data["code"] = code
    return err
