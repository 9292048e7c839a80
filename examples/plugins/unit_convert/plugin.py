"""unit_convert: two tools, one with a hand-written JSON Schema.

``convert_units`` spells out its schema (an ``enum`` of units and a description
per parameter) so a model sees exactly what it may send; ``list_units`` lets
``Tool.from_function`` infer the schema from the signature.
"""

from __future__ import annotations

from llf_host import Tool
from llf_host import hookimpl

from .units import ALL_UNITS
from .units import convert_units
from .units import list_units

CONVERT_SCHEMA = {
    "type": "object",
    "properties": {
        "value": {"type": "number", "description": "The quantity to convert"},
        "from_unit": {"enum": ALL_UNITS, "description": "The unit of value"},
        "to_unit": {"enum": ALL_UNITS, "description": "The unit wanted"},
        "precision": {
            "type": "integer",
            "minimum": 0,
            "maximum": 15,
            "description": "Decimal places of the result (default 6)",
        },
    },
    "required": ["value", "from_unit", "to_unit"],
    "additionalProperties": False,
}


@hookimpl
def llf_tools() -> list[Tool]:
    return [
        Tool.from_function(convert_units, parameters=CONVERT_SCHEMA),
        Tool.from_function(list_units),
    ]
