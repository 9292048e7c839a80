"""What a request costs: a local, versioned price table with user overrides.

The table ships inside the package (``prices.toml``, never fetched from the
network) and the ``[prices]`` config section overrides or extends it::

    [prices]
    "openai/gpt-4o" = { input_per_1m = 2.5, output_per_1m = 10.0 }
    "ollama/*"      = { input_per_1m = 0.0, output_per_1m = 0.0 }

A price is one of three explicit states (:data:`PriceState`): ``priced`` (from
the table or the config), ``free`` (a local model nobody gave a price) or
``unknown`` (a cloud or unidentified model in neither place). Unknown is never
reported as 0: its cost ``amount`` is ``None``.
"""

from __future__ import annotations

import fnmatch
import math
import tomllib
from collections.abc import Mapping
from typing import Any
from typing import Literal
from typing import final

import msgspec

from .._errors import ConfigError
from .._types import Usage

__all__ = ["Cost", "Price", "PriceLookup", "PriceState", "PriceTable"]

PriceState = Literal["priced", "free", "unknown"]

_PER = 1_000_000


class Price(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """USD per million tokens for one model.

    ``cached_input_per_1m`` bills the cached part of the prompt (``Usage.cached_tokens``)
    when set; ``reasoning_per_1m`` bills reasoning tokens (``Usage.reasoning_tokens``,
    counted inside ``completion_tokens``) at their own rate when set, else they are
    billed as output.
    """

    input_per_1m: float
    output_per_1m: float
    cached_input_per_1m: float | None = None
    reasoning_per_1m: float | None = None

    def __post_init__(self) -> None:
        for name in self.__struct_fields__:
            value = getattr(self, name)
            if value is not None and (not math.isfinite(value) or value < 0):
                raise ValueError(f"{name} must be a finite number >= 0, got {value}")

    @property
    def max_per_1k(self) -> float:
        """The dearest token of this model, per 1,000 tokens (``max_cost_per_1k`` filters)."""
        rates = [self.input_per_1m, self.output_per_1m]
        if self.reasoning_per_1m is not None:
            rates.append(self.reasoning_per_1m)
        return max(rates) / 1000

    def amount(
        self,
        prompt_tokens: int,
        completion_tokens: int,
        *,
        cached_tokens: int = 0,
        reasoning_tokens: int = 0,
    ) -> float:
        """The cost in USD of these token counts."""
        cached = min(cached_tokens, prompt_tokens) if self.cached_input_per_1m is not None else 0
        reasoning = (
            min(reasoning_tokens, completion_tokens) if self.reasoning_per_1m is not None else 0
        )
        total = (prompt_tokens - cached) * self.input_per_1m
        total += cached * (self.cached_input_per_1m or 0.0)
        total += (completion_tokens - reasoning) * self.output_per_1m
        total += reasoning * (self.reasoning_per_1m or 0.0)
        return total / _PER


class PriceLookup(msgspec.Struct, frozen=True):
    """Where a model's price came from: the state, the price and its source."""

    model: str
    state: PriceState
    price: Price | None = None
    #: ``table:<version>``, ``config:<key>`` or ``local``; empty when unknown.
    source: str = ""


class Cost(msgspec.Struct):
    """The cost of one request. ``amount`` is ``None`` exactly when the price is unknown."""

    state: PriceState
    amount: float | None
    currency: str = "USD"
    source: str = ""
    #: True when some token counts were estimated (the engine reported no usage).
    estimated: bool = False

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (for ``ChatResult.route`` and the protocol)."""
        return msgspec.to_builtins(self)  # type: ignore[no-any-return]


def _parse_price(key: str, raw: Any, where: str) -> Price:
    if not isinstance(raw, Mapping):
        raise ConfigError(
            f"{where}: the price of {key!r} must be a table",
            hint=f'write "{key}" = {{ input_per_1m = 1.0, output_per_1m = 2.0 }}',
            field=f"prices.{key}",
        )
    try:
        return msgspec.convert(dict(raw), Price)
    except (msgspec.ValidationError, ValueError) as exc:
        raise ConfigError(
            f"{where}: the price of {key!r} is invalid: {exc}",
            hint="give input_per_1m and output_per_1m in USD per million tokens "
            "(optionally cached_input_per_1m, reasoning_per_1m)",
            field=f"prices.{key}",
        ) from None


def _bundled() -> tuple[str, dict[str, Price]]:
    # importlib.resources costs ~4 ms to import: only when the table is first read.
    from importlib import resources

    text = resources.files(__package__).joinpath("prices.toml").read_text(encoding="utf-8")
    data = tomllib.loads(text)
    version = str(data.get("version", "unversioned"))
    models = {
        key: _parse_price(key, raw, "bundled prices.toml")
        for key, raw in data.get("models", {}).items()
    }
    return version, models


@final
class PriceTable:
    """Price lookups: config overrides first (exact, then patterns), then the table.

    :param table: bundled prices by exact model id.
    :param version: the bundled table's version, reported as the cost's source.
    :param overrides: user prices by model id or ``fnmatch`` pattern (``"ollama/*"``).
    """

    def __init__(
        self,
        table: Mapping[str, Price] | None = None,
        *,
        version: str = "custom",
        overrides: Mapping[str, Price] | None = None,
    ) -> None:
        self.version = version
        self._table = dict(table or {})
        overrides = dict(overrides or {})
        self._exact = {k: v for k, v in overrides.items() if not _is_pattern(k)}
        # Longest pattern first: "ollama/llama3*" beats "ollama/*".
        self._patterns = sorted(
            ((k, v) for k, v in overrides.items() if _is_pattern(k)),
            key=lambda item: len(item[0]),
            reverse=True,
        )

    @classmethod
    def load(cls, overrides: Mapping[str, Any] | None = None) -> PriceTable:
        """The bundled table plus ``overrides`` (the raw ``[prices]`` config section)."""
        version, table = _bundled()
        parsed = {
            key: _parse_price(key, raw, "config [prices]") for key, raw in (overrides or {}).items()
        }
        return cls(table, version=version, overrides=parsed)

    def lookup(self, model_id: str, *, local: bool | None = None) -> PriceLookup:
        """The price of ``model_id``; ``local`` says whether it runs on this machine.

        ``local=None`` (not known) never makes a model free.
        """
        if model_id in self._exact:
            return PriceLookup(model_id, "priced", self._exact[model_id], f"config:{model_id}")
        for pattern, price in self._patterns:
            if fnmatch.fnmatchcase(model_id, pattern):
                return PriceLookup(model_id, "priced", price, f"config:{pattern}")
        if model_id in self._table:
            return PriceLookup(model_id, "priced", self._table[model_id], f"table:{self.version}")
        if local:
            return PriceLookup(model_id, "free", Price(0.0, 0.0), "local")
        return PriceLookup(model_id, "unknown")

    def cost(
        self,
        model_id: str,
        usage: Usage,
        *,
        local: bool | None = None,
        estimated: bool = False,
    ) -> Cost:
        """The cost of a finished request from its ``usage`` (unknown counts count as 0
        only when the price is free; otherwise a missing count makes ``estimated``)."""
        found = self.lookup(model_id, local=local)
        if found.price is None:
            return Cost("unknown", None, estimated=estimated)
        missing = usage.prompt_tokens is None or usage.completion_tokens is None
        amount = found.price.amount(
            usage.prompt_tokens or 0,
            usage.completion_tokens or 0,
            cached_tokens=usage.cached_tokens or 0,
            reasoning_tokens=usage.reasoning_tokens or 0,
        )
        return Cost(
            found.state,
            amount,
            source=found.source,
            estimated=estimated or (missing and found.state == "priced"),
        )

    def estimate(
        self,
        model_id: str,
        prompt_tokens: int,
        completion_tokens: int,
        *,
        local: bool | None = None,
    ) -> Cost:
        """The most a request may cost, from a prompt estimate and ``max_tokens``."""
        found = self.lookup(model_id, local=local)
        if found.price is None:
            return Cost("unknown", None, estimated=True)
        amount = found.price.amount(prompt_tokens, completion_tokens)
        return Cost(found.state, amount, source=found.source, estimated=True)

    def models(self) -> dict[str, Price]:
        """Every exactly-named price (bundled, then config overrides on top)."""
        return {**self._table, **self._exact}


def _is_pattern(key: str) -> bool:
    return any(ch in key for ch in "*?[")
