"""What plugins contribute: providers, tools, exporters and auditors.

Each is a small abstract class with async methods. Plugins subclass them (or, for
tools, build a :class:`Tool` value); the host never calls plugin code outside
a guard that names the plugin when it fails. The memory backend contract is
larger and lives in :mod:`llf_host._memory_contract`.
"""

from __future__ import annotations

import abc
import inspect
import types
import typing
from collections.abc import AsyncIterator
from collections.abc import Callable
from typing import TYPE_CHECKING
from typing import Any

import msgspec

from ._types import AuditEvent
from ._types import ChatChunk
from ._types import ChatRequest
from ._types import HealthStatus
from ._types import ModelInfo
from ._types import ToolDefinition

if TYPE_CHECKING:
    from ._memory_contract import ConversationExport

__all__ = ["Auditor", "Exporter", "Provider", "Tool", "ToolLimits"]


class Provider(abc.ABC):
    """A source of models: an in-process engine, a local server or a cloud API.

    ``prefix`` is the first segment of the model ids it serves (``ollama`` serves
    ``ollama/llama3``). It must be unique among loaded providers.
    """

    #: First segment of every model id this provider serves.
    prefix: str = ""
    #: One line shown by ``llf-host plugins list`` and ``models/list``.
    description: str = ""

    @abc.abstractmethod
    async def list_models(self) -> list[ModelInfo]:
        """The models this provider can serve now (may be cached by the provider)."""

    async def health(self) -> HealthStatus:
        """Whether the provider can serve requests, with an actionable message."""
        return HealthStatus(state="ready")

    @abc.abstractmethod
    def chat(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        """Generate an answer as a stream of chunks (write it as ``async def`` + ``yield``).

        Cancellation arrives as :class:`asyncio.CancelledError` at an ``await``;
        stop generating promptly and release the engine. Raise a
        :class:`~llf_host.ProviderError` subclass for failures.
        """

    def options_schema(self) -> dict[str, Any]:
        """JSON Schema of the engine-specific ``options.extra`` this provider accepts."""
        return {"type": "object", "properties": {}}

    async def aclose(self) -> None:  # noqa: B027 - optional hook, empty by design
        """Release resources (HTTP clients, loaded models). Called on unload/shutdown."""


class ToolLimits(msgspec.Struct, omit_defaults=True, forbid_unknown_fields=True):
    """Per-tool resource limits; ``None`` means the sandbox default."""

    timeout_s: float | None = None
    cpu_s: float | None = None
    memory_mb: int | None = None
    file_size_mb: int | None = None
    workdir_mb: int | None = None
    open_files: int | None = None
    processes: int | None = None
    output_kb: int | None = None


class Tool(msgspec.Struct, omit_defaults=True):
    """A tool a model can call. It runs in the sandbox, never in the host.

    ``function`` is ``"module:attribute"``: a module inside the plugin folder (or
    installed package) that the sandbox worker imports with ``python -I -S``.
    Keep that module free of ``llf_host`` and third-party imports; build the Tool
    from the function with :meth:`from_function`.
    """

    name: str
    description: str
    parameters: dict[str, Any]
    function: str
    confirm: bool = False
    log_arguments: bool = False
    limits: ToolLimits | None = None
    plugin: str = ""

    @classmethod
    def from_function(
        cls,
        func: Callable[..., Any],
        *,
        name: str | None = None,
        description: str | None = None,
        parameters: dict[str, Any] | None = None,
        confirm: bool = False,
        log_arguments: bool = False,
        limits: ToolLimits | None = None,
    ) -> Tool:
        """Describe ``func`` as a tool; the schema is inferred from its signature.

        Parameters annotated ``str``, ``int``, ``float``, ``bool``, ``list[...]``,
        ``dict`` (optionally ``| None``) are inferred; anything else needs an
        explicit ``parameters`` schema. The description defaults to the docstring.
        """
        return cls(
            name=name or func.__name__,
            description=description or inspect.getdoc(func) or "",
            parameters=parameters if parameters is not None else schema_from_signature(func),
            function=f"{func.__module__}:{func.__qualname__}",
            confirm=confirm,
            log_arguments=log_arguments,
            limits=limits,
        )

    def definition(self) -> ToolDefinition:
        """The model-facing description of this tool."""
        return ToolDefinition(
            name=self.name, description=self.description, parameters=self.parameters
        )


_JSON_TYPES: dict[Any, str] = {
    str: "string",
    int: "integer",
    float: "number",
    bool: "boolean",
    list: "array",
    dict: "object",
}


def _json_type(annotation: Any, func: Callable[..., Any], param: str) -> dict[str, Any]:
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return _json_type(args[0], func, param)
    if origin is list:
        (item,) = typing.get_args(annotation) or (Any,)
        schema: dict[str, Any] = {"type": "array"}
        if item is not Any:
            schema["items"] = _json_type(item, func, param)
        return schema
    if origin is dict:
        return {"type": "object"}
    if annotation in _JSON_TYPES:
        return {"type": _JSON_TYPES[annotation]}
    raise TypeError(
        f"cannot infer a JSON Schema for parameter {param!r} of {func.__qualname__} "
        f"(annotation {annotation!r}); pass parameters={{...}} to Tool.from_function"
    )


def schema_from_signature(func: Callable[..., Any]) -> dict[str, Any]:
    """Infer an object JSON Schema from a function's annotated parameters."""
    hints = typing.get_type_hints(func)
    properties: dict[str, Any] = {}
    required: list[str] = []
    for pname, param in inspect.signature(func).parameters.items():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        annotation = hints.get(pname, str)
        properties[pname] = _json_type(annotation, func, pname)
        if param.default is inspect.Parameter.empty:
            required.append(pname)
        else:
            properties[pname]["default"] = param.default
    schema: dict[str, Any] = {
        "type": "object",
        "properties": properties,
        "additionalProperties": False,
    }
    if required:
        schema["required"] = required
    return schema


class Exporter(abc.ABC):
    """Turns conversations into a file format (Markdown, JSON, HTML...)."""

    #: Short format name used on the CLI and protocol (``md``, ``json``).
    format: str = ""
    #: File extension without the dot.
    extension: str = ""
    #: MIME type of the output.
    media_type: str = "text/plain"
    description: str = ""

    @abc.abstractmethod
    async def export(
        self, conversations: list[ConversationExport], options: dict[str, Any]
    ) -> bytes:
        """Render conversations (already redacted) to bytes in this format."""

    async def aclose(self) -> None:  # noqa: B027 - optional hook, empty by design
        """Release resources."""


class Auditor(abc.ABC):
    """Receives every audit event. Runs off the request path, behind a bounded queue."""

    name: str = ""

    @abc.abstractmethod
    async def record(self, event: AuditEvent) -> None:
        """Record one event. Must not block for long; failures are reported, not raised."""

    async def aclose(self) -> None:  # noqa: B027 - optional hook, empty by design
        """Flush and release resources."""
