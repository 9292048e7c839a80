"""Which errors trigger a fallback, per-endpoint cooldowns, and the route report.

A rule names the error classes it falls back on (``fallback_on``) by these
names (:data:`ERROR_NAMES`); anything else is raised to the caller at once.
Fallback happens only *before the first streamed token*: once a caller has seen
output, switching model would splice two answers.

After a failure that says "this endpoint cannot serve now" (:data:`COOLDOWN_ON`),
the endpoint cools down: rules skip it until the cooldown ends. ``down`` cools
the whole provider (its server is unreachable); ``loading`` and
``rate_limited`` cool the one model.
"""

from __future__ import annotations

from typing import Any
from typing import final

from .._errors import AuthenticationError
from .._errors import BudgetExceededError
from .._errors import ContextLengthError
from .._errors import LLMError
from .._errors import ModelLoadingError
from .._errors import ModelNotFoundError
from .._errors import NotAvailableError
from .._errors import PluginError
from .._errors import ProviderError
from .._errors import ProviderResponseError
from .._errors import ProviderUnavailableError
from .._errors import QueueFullError
from .._errors import RateLimitedError
from .clock import Clock
from .clock import SystemClock

__all__ = [
    "COOLDOWN_ON",
    "DEFAULT_FALLBACK_ON",
    "ERROR_NAMES",
    "CooldownTracker",
    "RouteReport",
    "error_name",
    "matches",
    "nothing_to_try",
]

#: Fallback names and the error classes they stand for (subclasses included).
ERROR_NAMES: dict[str, type[LLMError]] = {
    "down": ProviderUnavailableError,
    "loading": ModelLoadingError,
    "rate_limited": RateLimitedError,
    "context_length": ContextLengthError,
    "not_found": ModelNotFoundError,
    "auth": AuthenticationError,
    "bad_response": ProviderResponseError,
    "queue_full": QueueFullError,
    "budget": BudgetExceededError,
    "plugin_failed": PluginError,
    "provider_error": ProviderError,
}

#: What a rule falls back on when it does not say.
DEFAULT_FALLBACK_ON: tuple[str, ...] = ("down", "loading", "rate_limited", "queue_full")

#: Failures that put an endpoint in cooldown.
COOLDOWN_ON: frozenset[str] = frozenset({"down", "loading", "rate_limited"})

# Most specific first, so a RateLimitedError is "rate_limited", not "provider_error".
_ORDER = (
    "down",
    "loading",
    "rate_limited",
    "context_length",
    "not_found",
    "auth",
    "bad_response",
    "queue_full",
    "budget",
    "plugin_failed",
    "provider_error",
)


def error_name(exc: BaseException) -> str:
    """The fallback name of ``exc`` (``"other"`` when it has none)."""
    for name in _ORDER:
        if isinstance(exc, ERROR_NAMES[name]):
            return name
    return "other"


def matches(exc: BaseException, names: list[str] | tuple[str, ...]) -> bool:
    """True when ``exc`` is one of the error classes named in ``names``."""
    return any(isinstance(exc, ERROR_NAMES[n]) for n in names if n in ERROR_NAMES)


@final
class CooldownTracker:
    """When each endpoint (a provider prefix or a model id) may be tried again."""

    def __init__(self, *, clock: Clock | None = None) -> None:
        self._clock = clock or SystemClock()
        self._until: dict[str, tuple[float, str]] = {}

    @staticmethod
    def key_for(model_id: str, reason: str) -> str:
        """``down`` cools the provider; other reasons cool the model."""
        return model_id.partition("/")[0] if reason == "down" else model_id

    def start(self, model_id: str, reason: str, seconds: float) -> None:
        """Cool down after a ``reason`` failure of ``model_id`` for ``seconds``."""
        if seconds <= 0:
            return
        key = self.key_for(model_id, reason)
        until = self._clock.monotonic() + seconds
        current = self._until.get(key)
        if current is None or current[0] < until:
            self._until[key] = (until, reason)

    def remaining(self, model_id: str) -> tuple[float, str] | None:
        """Seconds left and the reason, when ``model_id`` or its provider is cooling down."""
        now = self._clock.monotonic()
        worst: tuple[float, str] | None = None
        for key in (model_id, model_id.partition("/")[0]):
            found = self._until.get(key)
            if found is None:
                continue
            if found[0] <= now:
                del self._until[key]
                continue
            left = found[0] - now
            if worst is None or left > worst[0]:
                worst = (left, found[1])
        return worst

    def clear(self, model_id: str) -> None:
        """Forget the cooldown of a model that just served (its provider is up too)."""
        self._until.pop(model_id, None)
        self._until.pop(model_id.partition("/")[0], None)

    def snapshot(self) -> dict[str, dict[str, Any]]:
        """Active cooldowns: key -> {seconds left, reason}."""
        now = self._clock.monotonic()
        return {
            key: {"remaining_s": round(until - now, 3), "reason": reason}
            for key, (until, reason) in self._until.items()
            if until > now
        }


@final
class RouteReport:
    """What the router did for one request; becomes ``ChatResult.route``."""

    def __init__(self, rule: str, reason: str) -> None:
        self.rule = rule
        self.reason = reason
        self.tried: list[dict[str, Any]] = []
        self.served_by: str | None = None
        self.extra: dict[str, Any] = {}

    def skipped(self, model: str, why: str) -> None:
        """``model`` was not tried (cooldown, filter, budget)."""
        self.tried.append({"model": model, "error": "skipped", "skipped": why})

    def failed(self, model: str, exc: LLMError, *, attempt: int = 0) -> None:
        """``model`` was tried and failed with ``exc``."""
        entry: dict[str, Any] = {"model": model, "error": error_name(exc), "message": exc.message}
        if attempt:
            entry["attempt"] = attempt
        self.tried.append(entry)

    def to_dict(self) -> dict[str, Any]:
        """The JSON-ready route: ``{rule, reason, tried, served_by, ...}``."""
        return {
            "rule": self.rule,
            "reason": self.reason,
            "tried": list(self.tried),
            "served_by": self.served_by,
            **self.extra,
        }


def nothing_to_try(rule: str, report: RouteReport, waits: list[float]) -> LLMError:
    """The error when every candidate of ``rule`` was skipped (none was tried).

    When some were only cooling down, it is :class:`ProviderUnavailableError`
    with ``retry_after`` (the soonest one is back); otherwise nothing fits the
    request, a :class:`NotAvailableError`.
    """
    why = "; ".join(f"{t['model']}: {t.get('skipped')}" for t in report.tried)
    if waits:
        soonest = min(waits)
        return ProviderUnavailableError(
            f"no candidate of rule {rule!r} can serve now ({why})",
            hint=f"retry in {soonest:.1f} s, or add fallback models to the rule",
            retry_after=round(soonest, 3),
            rule=rule,
        )
    return NotAvailableError(
        f"no candidate of rule {rule!r} fits this request ({why})",
        hint="relax the rule's filters (requires, local_only, max_cost_per_1k) "
        "or add models that fit",
        rule=rule,
    )
