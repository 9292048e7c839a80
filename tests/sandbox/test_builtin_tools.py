"""The built-in tools plugins, used the way a user would (with and without grants)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from llf_host import SandboxDenied
from llf_host import ToolError
from llf_host._tools import get_tool_runner
from llf_host.testing import isolated_host

BUILTINS = Path(__file__).resolve().parents[2] / "plugins"


@pytest.fixture
async def builtin(tmp_path):
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "todo.txt").write_text("buy milk\n")
    (notes / "sub").mkdir()
    config = {"sandbox": {"grants": {"tools_builtin": {"filesystem": [str(notes)]}}}}
    async with isolated_host(
        tmp_path / "home",
        plugins=[BUILTINS / "tools_builtin", BUILTINS / "tools_net"],
        config=config,
    ) as host:
        yield get_tool_runner(host), notes


async def test_read_and_list_inside_the_grant(builtin):
    runner, notes = builtin
    read = (await runner.call("read_file", {"path": "todo.txt"})).result
    assert read["text"] == "buy milk\n" and read["truncated"] is False
    listed = (await runner.call("list_dir", {"path": str(notes)})).result
    assert [(e["name"], e["kind"]) for e in listed["entries"]] == [
        ("sub", "dir"),
        ("todo.txt", "file"),
    ]
    roots = (await runner.call("list_dir", {})).result
    assert roots["entries"] == [{"name": str(notes), "kind": "dir"}]


async def test_reading_outside_the_grant_is_denied_with_the_config_line(builtin, tmp_path):
    runner, _notes = builtin
    other = tmp_path / "private.txt"
    other.write_text("private")
    with pytest.raises(SandboxDenied) as info:
        await runner.call("read_file", {"path": str(other)})
    assert "[sandbox.grants.tools_builtin] filesystem" in info.value.hint
    with pytest.raises(SandboxDenied):
        await runner.call("read_file", {"path": "../private.txt"})
    # System files the interpreter itself may read are still out of the tools' reach.
    for system_file in ("/etc/passwd", "/usr/lib/os-release"):
        with pytest.raises(ToolError, match="outside the granted folders"):
            await runner.call("read_file", {"path": system_file})
    with pytest.raises(ToolError):
        await runner.call("list_dir", {"path": "/etc"})


async def test_the_grant_is_read_only(builtin):
    runner, notes = builtin
    assert runner.workers.grants_for("tools_builtin").write == ()
    assert (notes / "todo.txt").read_text() == "buy milk\n"


async def test_calculator(builtin):
    runner, _notes = builtin
    result = await runner.call("calculate", {"expression": "(2 + 3) * sqrt(16) - 2**10"})
    assert result.result["value"] == pytest.approx(20.0 - 1024)
    for bad in ("__import__('os').system('id')", "open('/etc/passwd')", "9**9**9", "1/0"):
        with pytest.raises(ToolError):
            await runner.call("calculate", {"expression": bad})


async def test_current_time(builtin):
    runner, _notes = builtin
    utc = (await runner.call("current_time", {})).result
    assert utc["timezone"] == "UTC" and utc["utc_offset"] == "+00:00"
    tokyo = (await runner.call("current_time", {"timezone": "Asia/Tokyo"})).result
    assert tokyo["utc_offset"] == "+09:00"
    with pytest.raises(ToolError):
        await runner.call("current_time", {"timezone": "Mars/Olympus"})


async def test_http_get_without_a_grant_is_denied_with_a_hint(builtin):
    runner, _notes = builtin
    with pytest.raises(SandboxDenied) as info:
        await runner.call("http_get", {"url": "https://example.org/"})
    assert info.value.data["host"] == "example.org"
    assert '[sandbox.grants.tools_net] network = ["example.org:443"]' in info.value.hint


def _tools_module():
    """The module itself (pure functions, no sandbox needed), under a private name."""
    import importlib.util
    import sys

    name = "_llf_test_builtin_tools"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, BUILTINS / "tools_builtin" / "tools.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


_numbers = st.integers(min_value=-1000, max_value=1000)


@settings(max_examples=30, deadline=None)
@given(a=_numbers, b=_numbers, c=_numbers.filter(lambda n: n != 0))
def test_calculate_matches_python_arithmetic(a, b, c):
    builtin_tools = _tools_module()
    expression = f"({a}) * ({b}) + ({a}) // ({c}) - ({b}) % ({c})"
    expected = a * b + a // c - b % c
    assert builtin_tools.calculate(expression)["value"] == expected
    assert math.isclose(builtin_tools.calculate(f"sqrt({abs(a)})")["value"], math.sqrt(abs(a)))
