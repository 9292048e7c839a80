"""Calling plugin code safely: every failure is reported against the plugin.

``guarded(plugin, what)`` is the one boundary between the host and code it does
not trust to behave: an :class:`LLMError` raised on purpose passes through (with
the plugin's name added), anything else becomes a :class:`PluginError` that
names the plugin, what was being done and the reason. Cancellation always
passes through untouched.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import Awaitable
from collections.abc import Callable
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from typing import TypeVar

from ._errors import LLMError
from ._errors import PluginError

__all__ = ["await_me_maybe", "call_guarded", "guarded"]

log = logging.getLogger("llf.plugins")
trace_log = logging.getLogger("llf.trace")

T = TypeVar("T")


async def await_me_maybe(value: T | Awaitable[T]) -> T:
    """Await ``value`` if it is awaitable; hooks may be plain or ``async def``."""
    if inspect.isawaitable(value):
        return await value
    return value


def plugin_failure(plugin: str, what: str, exc: BaseException) -> PluginError:
    """The PluginError reported when ``plugin`` raised ``exc`` while doing ``what``."""
    reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return PluginError(
        f"plugin {plugin!r} failed in {what}: {reason}",
        hint=f"this is a bug in plugin {plugin!r}; check its log, update or disable it",
        plugin=plugin,
        where=what,
        reason=reason,
    )


@contextmanager
def guarded(plugin: str, what: str) -> Iterator[None]:
    """Translate anything plugin code raises into the host's error tree."""
    try:
        yield
    except (asyncio.CancelledError, KeyboardInterrupt, GeneratorExit):
        raise
    except LLMError as exc:
        exc.data.setdefault("plugin", plugin)
        raise
    except BaseException as exc:
        log.debug("plugin %s failed in %s", plugin, what, exc_info=True)
        raise plugin_failure(plugin, what, exc) from exc


async def call_guarded(
    plugin: str, what: str, func: Callable[..., Any], /, *args: Any, **kwargs: Any
) -> Any:
    """Call ``func`` (sync or async) under :func:`guarded`, tracing it in debug mode."""
    start = time.perf_counter()
    try:
        with guarded(plugin, what):
            return await await_me_maybe(func(*args, **kwargs))
    finally:
        if trace_log.isEnabledFor(logging.DEBUG):
            trace_log.debug(
                "%s -> %s (%.2f ms)", what, plugin, (time.perf_counter() - start) * 1000
            )
