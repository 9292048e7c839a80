"""Tools for the runner tests (validation, approval, rate limits, parallelism)."""

from __future__ import annotations

from llf_host import Tool
from llf_host import ToolLimits
from llf_host import hookimpl

from . import tools


@hookimpl
def llf_tools() -> list[Tool]:
    return [
        Tool.from_function(tools.add),
        Tool.from_function(tools.limited),
        Tool.from_function(tools.guarded),
        Tool.from_function(tools.rendezvous, limits=ToolLimits(timeout_s=20)),
        Tool.from_function(tools.sleeper, limits=ToolLimits(timeout_s=60)),
        Tool.from_function(tools.nested, name="nested"),
        Tool.from_function(tools.async_tool),
    ]
