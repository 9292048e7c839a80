"""Registers every attack in attacks.py as a tool (schemas inferred from signatures)."""

from __future__ import annotations

import inspect

from llf_host import Tool
from llf_host import hookimpl

from . import attacks


@hookimpl
def llf_tools() -> list[Tool]:
    return [
        Tool.from_function(func)
        for name, func in inspect.getmembers(attacks, inspect.isfunction)
        if func.__module__ == attacks.__name__ and not name.startswith("_")
    ]
