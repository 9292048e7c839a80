"""The plugin contract: every hook a plugin may implement.

Implement a hook by decorating a function named like the hook with
:data:`llf_host.hookimpl` in your plugin's entry module. A hook implementation
may accept any subset of the arguments listed in its spec (by name), may be a
plain function or ``async def``, and may return a single object, a list, or
``None``. Each hook is documented with an example in docs/plugins.md; a test
fails when one is missing there.

Adding a hook later never breaks existing plugins: plugins implement only the
hooks they need, and unknown hooks are rejected at load time with the list of
known ones.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from typing import Any

import pluggy

if TYPE_CHECKING:
    import click

    from ._context import PluginContext
    from ._contracts import Auditor
    from ._contracts import Exporter
    from ._contracts import Provider
    from ._contracts import Tool
    from ._memory_contract import MemoryBackend
    from ._routing.policy import RouteRule
    from ._routing.policy import RoutingPolicy
    from ._types import AuditEvent
    from ._types import ChatRequest

__all__ = ["PROJECT_NAME", "hookimpl", "hookspec"]

#: The pluggy project name shared by specs and implementations.
PROJECT_NAME = "llf"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
#: Decorator marking a function as a hook implementation.
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@hookspec
def llf_providers(context: PluginContext) -> Provider | list[Provider] | None:
    """Contribute model providers.

    Called once when the plugin loads (and again after a reload). Return
    :class:`~llf_host.Provider` instances; each ``prefix`` must be unique.
    Keep it cheap: import heavy engines inside the provider on first use.
    """


@hookspec
def llf_tools(context: PluginContext) -> Tool | list[Tool] | None:
    """Contribute tools a model can call.

    Called once when the plugin loads. Return :class:`~llf_host.Tool` values
    (``Tool.from_function(fn)``). Tool functions run in the sandbox, in a worker
    that imports only the tool's module with ``python -I -S``.
    """


@hookspec
def llf_memory_backends(context: PluginContext) -> MemoryBackend | list[MemoryBackend] | None:
    """Contribute memory backends (conversation and memory stores).

    Called once when the plugin loads. The host opens the backend selected by
    ``[host] memory_backend`` (the first one found otherwise) on first use.
    """


@hookspec
def llf_exporters(context: PluginContext) -> Exporter | list[Exporter] | None:
    """Contribute exporters (conversation file formats).

    Called once when the plugin loads. Each exporter's ``format`` must be unique.
    """


@hookspec
def llf_auditors(context: PluginContext) -> Auditor | list[Auditor] | None:
    """Contribute stateful auditors that receive every audit event.

    Called once when the plugin loads. Events reach auditors through a bounded
    queue, off the request path; a failing auditor is reported, never fatal.
    """


@hookspec
def llf_audit(event: AuditEvent, context: PluginContext) -> None:
    """Receive one audit event (the light-weight form of an auditor).

    Called for every event, off the request path. ``event.data`` is already
    redacted. May be ``async def``.
    """


@hookspec
def llf_startup(host: Any, context: PluginContext) -> None:
    """Run once after every plugin has loaded and the registry is built.

    ``host`` is the running :class:`~llf_host.Host`. May be ``async def``.
    Failures are reported against the plugin and do not stop the host.
    """


@hookspec
def llf_shutdown(host: Any, context: PluginContext) -> None:
    """Run once when the host stops, or when this plugin is unloaded or reloaded.

    Release what ``llf_startup`` acquired. May be ``async def``.
    """


@hookspec
def llf_commands(cli: click.Group, context: PluginContext) -> None:
    """Add commands to the ``llf-host`` command line.

    ``cli`` is the root :class:`click.Group`; add commands with
    ``@cli.command()``. Called only when the CLI runs, not by ``serve``.
    """


@hookspec
def llf_route(
    request: ChatRequest, task: str | None, policy: RoutingPolicy, context: PluginContext
) -> RoutingPolicy | RouteRule | list[str] | dict[str, Any] | None:
    """Supply a routing policy for one request.

    Called by the router for every request it routes by rule: one that gives a
    ``task`` or a rule name, or names no model (a request that names a model and
    no task goes straight to it). ``request`` is the :class:`~llf_host.ChatRequest`,
    ``task`` the task type or ``None``, ``policy`` the configured
    :class:`~llf_host.RoutingPolicy`. Return a ``RoutingPolicy`` to route by, one
    ``RouteRule`` to use for this request, a list of model ids to try in order,
    a dict in the ``[routing]`` shape, or ``None`` to leave the decision to the
    next plugin and finally to the configured policy. Plugins are asked in load
    order and the first answer wins. May be ``async def``; a failure or an
    invalid answer is logged and ignored.
    """
