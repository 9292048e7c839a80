"""The tool functions. Standard library only: the sandbox imports this module alone.

Each linear unit is a factor to its dimension's base unit (metre, kilogram,
litre, second, byte); temperatures need an offset, so they are handled apart.
"""

from __future__ import annotations

UNITS: dict[str, dict[str, float]] = {
    "length": {
        "m": 1.0,
        "km": 1000.0,
        "cm": 0.01,
        "mm": 0.001,
        "mi": 1609.344,
        "yd": 0.9144,
        "ft": 0.3048,
        "in": 0.0254,
        "nmi": 1852.0,
    },
    "mass": {
        "kg": 1.0,
        "g": 0.001,
        "mg": 1e-6,
        "t": 1000.0,
        "lb": 0.45359237,
        "oz": 0.028349523125,
    },
    "volume": {
        "l": 1.0,
        "ml": 0.001,
        "m3": 1000.0,
        "gal": 3.785411784,
        "qt": 0.946352946,
        "cup": 0.2365882365,
        "floz": 0.0295735295625,
    },
    "time": {"s": 1.0, "min": 60.0, "h": 3600.0, "day": 86400.0, "week": 604800.0},
    "data": {
        "B": 1.0,
        "kB": 1e3,
        "MB": 1e6,
        "GB": 1e9,
        "KiB": 1024.0,
        "MiB": 1024.0**2,
        "GiB": 1024.0**3,
    },
}
TEMPERATURES = ("C", "F", "K")
ALL_UNITS = sorted({u for table in UNITS.values() for u in table} | set(TEMPERATURES))


def _dimension(unit: str) -> str:
    if unit in TEMPERATURES:
        return "temperature"
    for dimension, table in UNITS.items():
        if unit in table:
            return dimension
    raise ValueError(f"unknown unit {unit!r}; known units: {', '.join(ALL_UNITS)}")


def _to_kelvin(value: float, unit: str) -> float:
    return {"C": value + 273.15, "F": (value - 32) * 5 / 9 + 273.15, "K": value}[unit]


def _from_kelvin(kelvin: float, unit: str) -> float:
    return {"C": kelvin - 273.15, "F": (kelvin - 273.15) * 9 / 5 + 32, "K": kelvin}[unit]


def convert_units(value: float, from_unit: str, to_unit: str, precision: int = 6) -> dict:
    """Convert a quantity from one unit to another of the same kind.

    Lengths (m, km, mi, ft...), masses (kg, lb, oz...), volumes (l, gal, cup...),
    durations (s, min, h, day, week), data sizes (MB, MiB...) and temperatures
    (C, F, K).
    """
    source, target = _dimension(from_unit), _dimension(to_unit)
    if source != target:
        raise ValueError(f"cannot convert {source} ({from_unit}) to {target} ({to_unit})")
    if source == "temperature":
        result = _from_kelvin(_to_kelvin(value, from_unit), to_unit)
        if _to_kelvin(value, from_unit) < 0:
            raise ValueError(f"{value} {from_unit} is below absolute zero")
    else:
        table = UNITS[source]
        result = value * table[from_unit] / table[to_unit]
    return {
        "value": round(result, precision),
        "unit": to_unit,
        "dimension": source,
        "text": f"{value:g} {from_unit} = {round(result, precision):g} {to_unit}",
    }


def list_units(dimension: str = "") -> dict:
    """The units this tool knows, by kind (or only those of one kind)."""
    known = {name: sorted(table) for name, table in UNITS.items()}
    known["temperature"] = list(TEMPERATURES)
    if dimension:
        if dimension not in known:
            raise ValueError(f"unknown kind {dimension!r}; known: {', '.join(sorted(known))}")
        return {dimension: known[dimension]}
    return known
