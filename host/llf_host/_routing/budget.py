"""Budgets in tokens and/or USD, shared along a delegation chain.

A :class:`Budget` is an explicit object, never module state. Agent A makes a
budget, carves a child for agent B (``a.child(limit_tokens=500)``), B carves one
for C, and so on. Every spend is charged to the budget *and all its ancestors*,
so a chain can never spend more than any ancestor's cap: a child's limit is at
most what its parent has left when it is carved, and every reservation is
checked against every level when it is made.

A call goes in two steps: :meth:`Budget.reserve` before the provider is called
(prompt estimate + ``max_tokens``; raises :class:`~llf_host.BudgetExceededError`
when it does not fit, so nothing is sent), then :meth:`Reservation.settle` with
the real usage. Check-and-commit runs under one lock per budget tree, so
concurrent callers (tasks or threads) cannot both take the last tokens.

For nested async code the current budget travels in a :mod:`contextvars`
variable: ``with use_budget(b): ...`` makes ``b`` the default for every router
call made inside, including tasks started there (``asyncio.gather``).
:class:`BudgetTracker` keeps budgets by id for the protocol (host-wide, so
several requests, even from different clients, can share one).
"""

from __future__ import annotations

import contextlib
import math
import os
import threading
import time
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any
from typing import Literal
from typing import final

import msgspec

from .._errors import BudgetExceededError
from .._errors import ConfigError
from .._errors import NotAvailableError

__all__ = [
    "Budget",
    "BudgetSettings",
    "BudgetTracker",
    "Reservation",
    "current_budget",
    "use_budget",
]

Dimension = Literal["tokens", "cost"]

_CURRENT: ContextVar[Budget | None] = ContextVar("llf_current_budget", default=None)


def current_budget() -> Budget | None:
    """The budget set by the innermost :func:`use_budget` in this context, if any."""
    return _CURRENT.get()


@contextlib.contextmanager
def use_budget(budget: Budget | None) -> Iterator[Budget | None]:
    """Make ``budget`` the current one for the ``with`` block (and tasks started in it)."""
    token = _CURRENT.set(budget)
    try:
        yield budget
    finally:
        _CURRENT.reset(token)


def _left(limit: float | None, spent: float, reserved: float) -> float | None:
    return None if limit is None else max(0.0, limit - spent - reserved)


@final
class Budget:
    """A cap on tokens and/or cost, optionally carved from a parent budget.

    :param limit_tokens: most tokens (prompt + completion) this budget may spend.
    :param limit_cost: most USD this budget may spend.
    :param label: a name shown in errors and listings (``"agent B"``).
    """

    def __init__(
        self,
        *,
        limit_tokens: int | None = None,
        limit_cost: float | None = None,
        label: str = "",
        id: str | None = None,
        _parent: Budget | None = None,
    ) -> None:
        if limit_tokens is not None and limit_tokens < 0:
            raise ValueError(f"limit_tokens must be >= 0, got {limit_tokens}")
        if limit_cost is not None and (not math.isfinite(limit_cost) or limit_cost < 0):
            raise ValueError(f"limit_cost must be a finite number >= 0, got {limit_cost}")
        self.id = id or f"b-{os.urandom(6).hex()}"
        self.label = label
        self.parent = _parent
        self.children: list[Budget] = []
        self._lock: threading.Lock = _parent._lock if _parent is not None else threading.Lock()
        self.limit_tokens = limit_tokens
        self.limit_cost = limit_cost
        self.spent_tokens = 0
        self.spent_cost = 0.0
        self.reserved_tokens = 0
        self.reserved_cost = 0.0
        #: Settled requests charged to this budget (directly or through a child).
        self.requests = 0
        #: Settled requests whose cost was unknown (counted, never priced as 0).
        self.unpriced_requests = 0
        self.created_at = time.time()

    # -- the tree ----------------------------------------------------------------
    def child(
        self,
        *,
        limit_tokens: int | None = None,
        limit_cost: float | None = None,
        label: str = "",
        id: str | None = None,
    ) -> Budget:
        """Carve a child budget: its limits are capped at what this chain has left now.

        A limit left ``None`` means "whatever the parent has left".
        """
        with self._lock:
            tokens_left = self._available("tokens")
            cost_left = self._available("cost")
            if limit_tokens is not None and tokens_left is not None:
                limit_tokens = min(limit_tokens, int(tokens_left))
            if limit_cost is not None and cost_left is not None:
                limit_cost = min(limit_cost, cost_left)
            kid = Budget(
                limit_tokens=limit_tokens,
                limit_cost=limit_cost,
                label=label,
                id=id,
                _parent=self,
            )
            self.children.append(kid)
            return kid

    def chain(self) -> list[Budget]:
        """This budget and its ancestors, innermost first."""
        out: list[Budget] = []
        node: Budget | None = self
        while node is not None:
            out.append(node)
            node = node.parent
        return out

    # -- what is left -----------------------------------------------------------
    def _available(self, dimension: Dimension) -> float | None:
        lefts = [
            _left(b.limit_tokens, b.spent_tokens, b.reserved_tokens)
            if dimension == "tokens"
            else _left(b.limit_cost, b.spent_cost, b.reserved_cost)
            for b in self.chain()
        ]
        known = [v for v in lefts if v is not None]
        return min(known) if known else None

    @property
    def available_tokens(self) -> int | None:
        """Tokens this budget may still reserve (limited by every ancestor); None = no cap."""
        with self._lock:
            left = self._available("tokens")
        return None if left is None else int(left)

    @property
    def available_cost(self) -> float | None:
        """USD this budget may still reserve (limited by every ancestor); None = no cap."""
        with self._lock:
            return self._available("cost")

    @property
    def limits_tokens(self) -> bool:
        """True when this budget or an ancestor caps tokens."""
        return any(b.limit_tokens is not None for b in self.chain())

    @property
    def limits_cost(self) -> bool:
        """True when this budget or an ancestor caps cost."""
        return any(b.limit_cost is not None for b in self.chain())

    # -- spending ---------------------------------------------------------------
    def check(self, tokens: int = 0, cost: float = 0.0) -> None:
        """Raise :class:`BudgetExceededError` if ``tokens``/``cost`` would not fit now."""
        with self._lock:
            self._check(tokens, cost)

    def _check(self, tokens: int, cost: float) -> None:
        for level in self.chain():
            if level.limit_tokens is not None:
                left = level.limit_tokens - level.spent_tokens - level.reserved_tokens
                if tokens > left:
                    raise self._exceeded(level, "tokens", tokens, max(left, 0))
            if level.limit_cost is not None:
                left_cost = level.limit_cost - level.spent_cost - level.reserved_cost
                if cost > left_cost + 1e-12:
                    raise self._exceeded(level, "cost", cost, max(left_cost, 0.0))

    def _exceeded(
        self, level: Budget, dimension: Dimension, wanted: float, left: float
    ) -> BudgetExceededError:
        name = level.describe()
        whose = "" if level is self else f" (an ancestor of {self.describe()})"
        unit = "tokens" if dimension == "tokens" else "USD"
        shown_wanted = f"{wanted:g}" if dimension == "tokens" else f"{wanted:.6f}"
        shown_left = f"{left:g}" if dimension == "tokens" else f"{left:.6f}"
        return BudgetExceededError(
            f"budget {name}{whose} would be overspent: this call needs up to "
            f"{shown_wanted} {unit}, {shown_left} {unit} left",
            hint="lower max_tokens, shorten the prompt, or give the budget more room "
            "(a child budget can never exceed what its parent has left)",
            budget=level.id,
            requested_by=self.id,
            dimension=dimension,
            limit=level.limit_tokens if dimension == "tokens" else level.limit_cost,
            spent=level.spent_tokens if dimension == "tokens" else level.spent_cost,
            reserved=level.reserved_tokens if dimension == "tokens" else level.reserved_cost,
            requested=wanted,
        )

    def reserve(self, tokens: int = 0, cost: float = 0.0) -> Reservation:
        """Set aside ``tokens`` and ``cost`` on this budget and every ancestor.

        Raises :class:`BudgetExceededError` (nothing reserved) when any level lacks room.
        """
        if tokens < 0 or cost < 0:
            raise ValueError("a reservation cannot be negative")
        with self._lock:
            self._check(tokens, cost)
            for level in self.chain():
                level.reserved_tokens += tokens
                level.reserved_cost += cost
        return Reservation(self, tokens, cost)

    def _settle(self, reservation: Reservation, tokens: int, cost: float | None) -> None:
        with self._lock:
            for level in self.chain():
                level.reserved_tokens -= reservation.tokens
                level.reserved_cost -= reservation.cost
                if abs(level.reserved_cost) < 1e-12:
                    level.reserved_cost = 0.0
                level.spent_tokens += tokens
                if cost is None:
                    level.unpriced_requests += 1
                else:
                    level.spent_cost += cost
                level.requests += 1

    def describe(self) -> str:
        """``'label' (id)`` or just the id."""
        return f"{self.label!r} ({self.id})" if self.label else self.id

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready snapshot (what ``budget/get`` returns)."""
        with self._lock:
            tokens_left = self._available("tokens")
            cost_left = self._available("cost")
            return {
                "id": self.id,
                "label": self.label,
                "parent": self.parent.id if self.parent is not None else None,
                "children": [c.id for c in self.children],
                "limit_tokens": self.limit_tokens,
                "limit_cost": self.limit_cost,
                "spent_tokens": self.spent_tokens,
                "spent_cost": round(self.spent_cost, 10),
                "reserved_tokens": self.reserved_tokens,
                "reserved_cost": round(self.reserved_cost, 10),
                "remaining_tokens": None if tokens_left is None else int(tokens_left),
                "remaining_cost": None if cost_left is None else round(cost_left, 10),
                "requests": self.requests,
                "unpriced_requests": self.unpriced_requests,
                "created_at": self.created_at,
            }

    def __repr__(self) -> str:
        return (
            f"<Budget {self.describe()} tokens {self.spent_tokens}/{self.limit_tokens} "
            f"cost {self.spent_cost:.6f}/{self.limit_cost}>"
        )


@final
class Reservation:
    """Tokens and cost set aside for one call; settle it exactly once."""

    __slots__ = ("budget", "cost", "settled", "tokens")

    def __init__(self, budget: Budget, tokens: int, cost: float) -> None:
        self.budget = budget
        self.tokens = tokens
        self.cost = cost
        self.settled = False

    def settle(self, tokens: int, cost: float | None) -> None:
        """Replace the reservation by what was really spent (``cost=None``: unknown price).

        Real usage is recorded even when it is larger than the reservation.
        """
        if self.settled:
            return
        self.settled = True
        self.budget._settle(self, max(tokens, 0), None if cost is None else max(cost, 0.0))

    def release(self) -> None:
        """Give the reservation back unspent (the call failed before using anything)."""
        if self.settled:
            return
        self.settled = True
        with self.budget._lock:
            for level in self.budget.chain():
                level.reserved_tokens -= self.tokens
                level.reserved_cost -= self.cost
                if abs(level.reserved_cost) < 1e-12:
                    level.reserved_cost = 0.0


class BudgetSettings(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """One named budget in the ``[budgets.<id>]`` config section."""

    limit_tokens: int | None = None
    limit_cost: float | None = None
    parent: str | None = None
    label: str = ""


@final
class BudgetTracker:
    """Budgets by id, for budgets created over the protocol (host-wide).

    :param max_budgets: how many budgets may exist at once (closed ones do not count).
    """

    def __init__(self, *, max_budgets: int = 10_000) -> None:
        self._budgets: dict[str, Budget] = {}
        self.max_budgets = max_budgets

    def create(
        self,
        *,
        limit_tokens: int | None = None,
        limit_cost: float | None = None,
        parent: str | None = None,
        label: str = "",
    ) -> Budget:
        """A new root budget, or a child of the budget whose id is ``parent``."""
        if len(self._budgets) >= self.max_budgets:
            raise BudgetExceededError(
                f"too many open budgets ({self.max_budgets})",
                hint="close budgets you no longer need with budget/close",
                limit=self.max_budgets,
                dimension="budgets",
            )
        if parent is not None:
            budget = self.get(parent).child(
                limit_tokens=limit_tokens, limit_cost=limit_cost, label=label
            )
        else:
            budget = Budget(limit_tokens=limit_tokens, limit_cost=limit_cost, label=label)
        self._budgets[budget.id] = budget
        return budget

    @classmethod
    def from_config(cls, section: dict[str, Any]) -> BudgetTracker:
        """A tracker holding the budgets named in ``[budgets]`` (their ids are their names).

        ``[budgets.team] limit_cost = 5.0`` then ``[budgets.alice] parent = "team"``
        makes ``alice`` a child of ``team``; parents may be listed in any order.
        """
        tracker = cls()
        pending: dict[str, BudgetSettings] = {}
        for name, raw in section.items():
            try:
                pending[name] = msgspec.convert(raw, BudgetSettings)
                Budget(limit_tokens=pending[name].limit_tokens, limit_cost=pending[name].limit_cost)
            except (msgspec.ValidationError, ValueError) as exc:
                raise ConfigError(
                    f"[budgets.{name}] is invalid: {exc}",
                    hint="keys: limit_tokens (>= 0), limit_cost (USD, >= 0), parent, label",
                    field=f"budgets.{name}",
                ) from None
        while pending:
            ready = [n for n, b in pending.items() if b.parent is None or b.parent in tracker]
            if not ready:
                name = next(iter(pending))
                raise ConfigError(
                    f"[budgets.{name}] has parent {pending[name].parent!r}, which is not a "
                    "budget in [budgets] (or the parents form a loop)",
                    hint="name an existing budget as parent, or remove the parent key",
                    field=f"budgets.{name}.parent",
                )
            for name in ready:
                settings = pending.pop(name)
                label = settings.label or name
                if settings.parent is None:
                    budget = Budget(
                        limit_tokens=settings.limit_tokens,
                        limit_cost=settings.limit_cost,
                        label=label,
                        id=name,
                    )
                else:
                    budget = tracker.get(settings.parent).child(
                        limit_tokens=settings.limit_tokens,
                        limit_cost=settings.limit_cost,
                        label=label,
                        id=name,
                    )
                tracker.add(budget)
        return tracker

    def add(self, budget: Budget) -> Budget:
        """Track a budget made in Python, so protocol calls can use it by id."""
        self._budgets[budget.id] = budget
        return budget

    def get(self, budget_id: str) -> Budget:
        """The budget with this id."""
        budget = self._budgets.get(budget_id)
        if budget is None:
            raise NotAvailableError(
                f"no budget with id {budget_id!r}",
                hint="create one with budget/create (ids are host-wide; closed budgets are gone)",
                budget=budget_id,
            )
        return budget

    def close(self, budget_id: str) -> list[str]:
        """Forget a budget and its descendants; calls already holding them finish normally."""
        root = self.get(budget_id)
        closed: list[str] = []
        stack = [root]
        while stack:
            node = stack.pop()
            if self._budgets.pop(node.id, None) is not None:
                closed.append(node.id)
            stack.extend(node.children)
        return closed

    def list(self) -> list[Budget]:
        """Every open budget, oldest first."""
        return list(self._budgets.values())

    def __contains__(self, budget_id: object) -> bool:
        return budget_id in self._budgets

    def __len__(self) -> int:
        return len(self._budgets)
