"""Method families, and the answer for a method nobody declared.

A family is the part of a method name before ``/`` (``tools`` in ``tools/call``).
Each family is declared by one module in :mod:`llf_host._rpc.methods`; a family
whose module is not built yet, or that no plugin backs, answers every method with
-32601 and ``data.kind = "not_available"`` plus a hint naming what provides it,
so a client can tell "not here yet" from a typo.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from typing import Final

from . import wire

__all__ = ["KNOWN_FAMILIES", "families_of", "unknown_method_error"]

#: family -> what provides it (shown in the hint when the family is missing).
KNOWN_FAMILIES: Final[dict[str, str]] = {
    "host": "the host itself",
    "plugins": "the host itself",
    "models": "provider plugins (llama_cpp, ollama, openai_compat...)",
    "chat": "provider plugins (llama_cpp, ollama, openai_compat...)",
    "tools": "the tools feature (sandboxed tool calls) and plugins contributing tools",
    "keys": "the encrypted key store feature",
    "memory": "the memory feature and a memory backend plugin (e.g. the built-in sqlite one)",
    "conversations": "the memory feature and a memory backend plugin (e.g. the built-in "
    "sqlite one)",
    "trash": "the memory feature and a memory backend plugin",
    "export": "the export feature and exporter plugins",
    "budget": "the routing and budgets feature",
    "routing": "the routing and budgets feature",
}


def families_of(methods: Iterable[str]) -> dict[str, list[str]]:
    """Method names grouped by family, sorted."""
    out: dict[str, list[str]] = {}
    for name in sorted(methods):
        family, sep, _ = name.partition("/")
        out.setdefault(family if sep else "", []).append(name)
    return out


def unknown_method_error(method: str, methods: Iterable[str]) -> dict[str, Any]:
    """The ``error`` object for ``method``, which no module declares."""
    names = list(methods)
    family, sep, _ = method.partition("/")
    declared = any(n.startswith(f"{family}/") for n in names) if sep else False
    if sep and not declared and family in KNOWN_FAMILIES:
        provider = KNOWN_FAMILIES[family]
        return wire.error_object(
            wire.CODE_METHOD_NOT_FOUND,
            f"{method} is not available: no plugin provides {family}/* in this host",
            hint=f"{family}/* is provided by {provider}; check `llf-host plugins list` "
            "and the initialize result (capabilities.unavailable)",
            data={"kind": "not_available", "method": method, "family": family},
        )
    import difflib

    close = difflib.get_close_matches(method, names, n=3, cutoff=0.6)
    hint = (
        f"did you mean {', '.join(close)}?"
        if close
        else "the methods this host offers are listed in the initialize result "
        "(capabilities.methods) and in docs/protocol.md"
    )
    return wire.error_object(
        wire.CODE_METHOD_NOT_FOUND,
        f"unknown method {method!r}",
        hint=hint,
        data={"kind": "method_not_found", "method": method},
    )
