"""Declarative routing: which models serve which task, in what order.

A :class:`RoutingPolicy` is an ordered list of :class:`RouteRule`. The first rule
whose ``task`` matches the request's task (``"*"`` matches any) and whose
``when`` conditions hold is used. Its candidates are ``prefer`` then
``fallback``, tried in order after filters (capabilities the rule ``requires``,
the request's own needs, ``local_only``, ``max_cost_per_1k``, cooldowns,
budget). The same policy comes from config, from Python or over the protocol::

    [routing]
    default_rule = "chat"

    [[routing.rules]]
    name = "code"
    task = "code"
    when = ["tools"]
    prefer = ["ollama/qwen2.5-coder:7b", "openai/gpt-4.1-mini"]
    fallback_on = ["down", "loading", "rate_limited", "context_length"]

    [[routing.rules]]
    name = "chat"
    prefer = ["llama_cpp/default"]
    fallback = ["openai/gpt-4o-mini"]

or in Python, ``RoutingPolicy.hybrid(local=[...], cloud=[...])`` for "local
first, cloud when local is down or unfit".
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from typing import Any

import msgspec

from .._errors import ConfigError
from .fallback import DEFAULT_FALLBACK_ON
from .fallback import ERROR_NAMES

__all__ = ["WHEN_CONDITIONS", "RouteRule", "RoutingPolicy"]

#: Request properties a rule's ``when`` may require.
WHEN_CONDITIONS: dict[str, str] = {
    "tools": "the request offers tools",
    "no_tools": "the request offers no tools",
    "streaming": "the caller streams the answer",
    "not_streaming": "the caller does not stream",
}


class RouteRule(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True, kw_only=True):
    """One routing rule.

    :param name: unique name, reported in ``ChatResult.route['rule']``.
    :param prefer: model ids in order of preference.
    :param task: task type(s) this rule serves; ``"*"`` serves any task.
    :param when: request properties the rule requires (see :data:`WHEN_CONDITIONS`).
    :param min_prompt_tokens: only for prompts at least this long (estimated).
    :param requires: capabilities every candidate must have (``tools``, ``vision``...).
        A model that reports no capabilities at all is not filtered out.
    :param min_context: smallest context window a candidate may have.
    :param fallback: more models tried after ``prefer``.
    :param fallback_on: error names that move on to the next candidate.
    :param max_cost_per_1k: skip models whose dearest token costs more per 1k (USD);
        models with an unknown price are skipped too.
    :param local_only: only models that run on this machine.
    :param cooldown_s: how long a failing endpoint is skipped (policy default if unset).
    :param retries: retries of the same model after ``rate_limited`` (with backoff).
    """

    name: str
    prefer: list[str]
    task: str | list[str] = "*"
    when: list[str] = msgspec.field(default_factory=list)
    min_prompt_tokens: int | None = None
    requires: list[str] = msgspec.field(default_factory=list)
    min_context: int | None = None
    fallback: list[str] = msgspec.field(default_factory=list)
    fallback_on: list[str] = msgspec.field(default_factory=lambda: list(DEFAULT_FALLBACK_ON))
    max_cost_per_1k: float | None = None
    local_only: bool = False
    cooldown_s: float | None = None
    retries: int | None = None

    @property
    def tasks(self) -> list[str]:
        """The task names this rule serves."""
        return [self.task] if isinstance(self.task, str) else list(self.task)

    def candidates(self) -> list[str]:
        """``prefer`` then ``fallback``, without repeats."""
        return list(dict.fromkeys([*self.prefer, *self.fallback]))

    def matches(
        self,
        task: str | None,
        *,
        has_tools: bool = False,
        streaming: bool = False,
        prompt_tokens: int = 0,
    ) -> bool:
        """True when this rule serves a request with these properties."""
        tasks = self.tasks
        if "*" not in tasks and (task is None or task not in tasks):
            return False
        facts = {
            "tools": has_tools,
            "no_tools": not has_tools,
            "streaming": streaming,
            "not_streaming": not streaming,
        }
        if not all(facts[cond] for cond in self.when):
            return False
        return self.min_prompt_tokens is None or prompt_tokens >= self.min_prompt_tokens


class RoutingPolicy(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True, kw_only=True):
    """An ordered set of rules plus defaults for cooldown and retries.

    :param rules: tried in order; the first that matches is used.
    :param default_rule: the rule for requests that name neither a model nor a task.
    :param cooldown_s: default cooldown of a failing endpoint, in seconds.
    :param retries: default retries of one model after ``rate_limited``.
    :param max_backoff_s: longest wait between such retries (longer ``retry_after``
        values move on to the next candidate instead).
    """

    rules: list[RouteRule] = msgspec.field(default_factory=list)
    default_rule: str | None = None
    cooldown_s: float = 30.0
    retries: int = 1
    max_backoff_s: float = 10.0

    def __post_init__(self) -> None:
        seen: set[str] = set()
        for index, rule in enumerate(self.rules):
            where = f"routing.rules[{index}]"
            if rule.name in seen:
                raise ValueError(f"{where}: rule name {rule.name!r} is used twice")
            seen.add(rule.name)
            if not rule.prefer:
                raise ValueError(f"{where} ({rule.name}): prefer must list at least one model")
            for model in rule.candidates():
                if "/" not in model:
                    raise ValueError(
                        f"{where} ({rule.name}): {model!r} is not a model id (prefix/name)"
                    )
            unknown = [n for n in rule.fallback_on if n not in ERROR_NAMES]
            if unknown:
                raise ValueError(
                    f"{where} ({rule.name}): unknown error name {unknown[0]!r} in fallback_on; "
                    f"use {', '.join(ERROR_NAMES)}"
                )
            bad_when = [c for c in rule.when if c not in WHEN_CONDITIONS]
            if bad_when:
                raise ValueError(
                    f"{where} ({rule.name}): unknown condition {bad_when[0]!r} in when; "
                    f"use {', '.join(WHEN_CONDITIONS)}"
                )
        if self.default_rule is not None and self.default_rule not in seen:
            raise ValueError(f"default_rule {self.default_rule!r} names no rule")

    # -- building -----------------------------------------------------------------
    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, where: str = "routing policy") -> RoutingPolicy:
        """Validate a policy from plain data (config section or protocol params).

        Keys the policy does not own (``limits``) are ignored.
        """
        body = {k: v for k, v in data.items() if k != "limits"}
        try:
            return msgspec.convert(body, cls)
        except (msgspec.ValidationError, ValueError) as exc:
            raise ConfigError(
                f"{where} is invalid: {exc}",
                hint="see docs/routing.md for the rule keys (name, task, when, prefer, "
                "fallback, fallback_on, requires, max_cost_per_1k, local_only...)",
                field="routing",
            ) from None

    @classmethod
    def from_toml(cls, text: str) -> RoutingPolicy:
        """Parse a TOML document whose ``[routing]`` table (or top level) is a policy."""
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(
                f"routing policy is not valid TOML: {exc}", hint="fix the syntax"
            ) from None
        return cls.from_dict(data.get("routing", data))

    @classmethod
    def hybrid(
        cls,
        local: list[str],
        cloud: list[str],
        *,
        task: str | list[str] = "*",
        name: str = "hybrid",
        fallback_on: list[str] | None = None,
    ) -> RoutingPolicy:
        """Local models first; cloud models when the local ones are down or unfit."""
        rule = RouteRule(
            name=name,
            task=task,
            prefer=list(local),
            fallback=list(cloud),
            fallback_on=list(fallback_on or [*DEFAULT_FALLBACK_ON, "context_length", "not_found"]),
        )
        return cls(rules=[rule], default_rule=name)

    def to_dict(self) -> dict[str, Any]:
        """Plain data (what ``routing/get`` returns and ``routing/set`` accepts)."""
        return msgspec.to_builtins(self)  # type: ignore[no-any-return]

    # -- choosing -------------------------------------------------------------------
    def rule(self, name: str) -> RouteRule | None:
        """The rule called ``name``."""
        for rule in self.rules:
            if rule.name == name:
                return rule
        return None

    def select(
        self,
        task: str | None,
        *,
        has_tools: bool = False,
        streaming: bool = False,
        prompt_tokens: int = 0,
    ) -> RouteRule | None:
        """The first rule serving this request; the default rule when no task is given."""
        if task is None and self.default_rule is not None:
            return self.rule(self.default_rule)
        for rule in self.rules:
            if rule.matches(
                task, has_tools=has_tools, streaming=streaming, prompt_tokens=prompt_tokens
            ):
                return rule
        return None
