from __future__ import annotations

from llf_host import Tool
from llf_host import hookimpl

from . import tools


@hookimpl
def llf_tools() -> list[Tool]:
    return [Tool.from_function(tools.fetch), Tool.from_function(tools.raw_connect)]
