"""Built-in tools: files in granted folders, a calculator, the current time.

The functions live in :mod:`.tools` (standard library only), which the sandbox
worker imports; this module only describes them to the host.
"""

from __future__ import annotations

from llf_host import Tool
from llf_host import hookimpl

from . import tools


@hookimpl
def llf_tools() -> list[Tool]:
    """The four built-in tools."""
    return [
        Tool.from_function(
            tools.read_file,
            description="Read a text file inside a folder the user granted. Relative paths "
            "are taken from the first granted folder.",
            parameters={
                "type": "object",
                "properties": {
                    "path": {"type": "string", "minLength": 1, "description": "File to read"},
                    "max_bytes": {
                        "type": "integer",
                        "minimum": 1,
                        "maximum": 1048576,
                        "default": 65536,
                        "description": "Read at most this many bytes",
                    },
                },
                "required": ["path"],
                "additionalProperties": False,
            },
        ),
        Tool.from_function(
            tools.list_dir,
            description="List a folder the user granted (names, kinds, sizes). Without a "
            "path, list the granted folders themselves.",
            parameters={
                "type": "object",
                "properties": {
                    "path": {"type": "string", "default": "", "description": "Folder to list"},
                    "limit": {
                        "type": "integer",
                        "minimum": 1,
                        "maximum": 5000,
                        "default": 500,
                        "description": "Return at most this many entries",
                    },
                },
                "additionalProperties": False,
            },
        ),
        Tool.from_function(
            tools.calculate,
            description="Evaluate an arithmetic expression: + - * / // % **, parentheses, "
            "and sqrt, sin, cos, tan, log, log10, exp, floor, ceil, abs, round, min, max, "
            "pi, e.",
            parameters={
                "type": "object",
                "properties": {
                    "expression": {
                        "type": "string",
                        "minLength": 1,
                        "maxLength": 2000,
                        "description": "For example (2 + 3) * sqrt(16)",
                    }
                },
                "required": ["expression"],
                "additionalProperties": False,
            },
        ),
        Tool.from_function(
            tools.current_time,
            description="The current date and time in a time zone (IANA name such as "
            "Europe/Paris, or UTC, or local).",
            parameters={
                "type": "object",
                "properties": {
                    "timezone": {
                        "type": "string",
                        "default": "UTC",
                        "description": "IANA time zone name, UTC or local",
                    }
                },
                "additionalProperties": False,
            },
        ),
    ]
