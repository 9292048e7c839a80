"""unit_convert: the tools run in the real sandbox and refuse nonsense clearly."""

from __future__ import annotations

from pathlib import Path

import pytest

from llf_host import ToolArgumentsInvalid
from llf_host import ToolError
from llf_host.testing import call_tool

PLUGIN = Path(__file__).resolve().parents[1]


async def test_both_tools_are_registered(make_host):
    host = await make_host(plugins=[PLUGIN])
    assert host.plugins["unit_convert"].status == "ok", host.plugins["unit_convert"].error
    convert = host.registry.tool("convert_units").obj
    assert "mi" in convert.parameters["properties"]["from_unit"]["enum"]
    assert convert.limits.timeout_s == 2
    assert host.registry.tool("list_units").obj.parameters["properties"]["dimension"]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ({"value": 1, "from_unit": "mi", "to_unit": "km"}, 1.609344),
        ({"value": 100, "from_unit": "C", "to_unit": "F"}, 212.0),
        ({"value": -40, "from_unit": "F", "to_unit": "C"}, -40.0),
        ({"value": 1, "from_unit": "GiB", "to_unit": "MB", "precision": 2}, 1073.74),
        ({"value": 2, "from_unit": "cup", "to_unit": "ml", "precision": 1}, 473.2),
    ],
)
async def test_converts_in_the_sandbox(make_host, args, expected):
    host = await make_host(plugins=[PLUGIN])
    result = await call_tool(host, "convert_units", args)
    assert result["value"] == pytest.approx(expected)
    assert result["unit"] == args["to_unit"]


async def test_a_unit_outside_the_schema_is_refused_before_running(make_host):
    host = await make_host(plugins=[PLUGIN])
    with pytest.raises(ToolArgumentsInvalid) as info:
        await call_tool(host, "convert_units", {"value": 1, "from_unit": "parsec", "to_unit": "m"})
    assert info.value.data["path"] == "/from_unit"


async def test_mixing_kinds_is_a_tool_error_with_the_reason(make_host):
    host = await make_host(plugins=[PLUGIN])
    with pytest.raises(ToolError, match="cannot convert length"):
        await call_tool(host, "convert_units", {"value": 1, "from_unit": "m", "to_unit": "kg"})
    with pytest.raises(ToolError, match="below absolute zero"):
        await call_tool(host, "convert_units", {"value": -500, "from_unit": "C", "to_unit": "K"})


async def test_lists_units_by_kind(make_host):
    host = await make_host(plugins=[PLUGIN])
    assert await call_tool(host, "list_units", {"dimension": "temperature"}) == {
        "temperature": ["C", "F", "K"]
    }
    assert "data" in await call_tool(host, "list_units")
