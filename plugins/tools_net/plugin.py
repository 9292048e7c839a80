"""``http_get``: the one built-in tool with network access, granted destination by destination.

Its manifest asks for HTTP(S) to any host as a ceiling but sets
``[sandbox] grants = "user"``, so it reaches nothing until the user lists
destinations in ``[sandbox.grants.tools_net] network``. Without that, a call
fails with SandboxDenied and a hint showing the line to add.
"""

from __future__ import annotations

from llf_host import Tool
from llf_host import hookimpl

from . import tools


@hookimpl
def llf_tools() -> list[Tool]:
    """The ``http_get`` tool."""
    return [
        Tool.from_function(
            tools.http_get,
            description="Fetch a URL with HTTP GET and return status, headers and the text "
            "body (truncated at max_bytes). Only granted destinations are reachable.",
            parameters={
                "type": "object",
                "properties": {
                    "url": {
                        "type": "string",
                        "pattern": "^https?://",
                        "maxLength": 4096,
                        "description": "http:// or https:// URL",
                    },
                    "max_bytes": {
                        "type": "integer",
                        "minimum": 1,
                        "maximum": 4194304,
                        "default": 262144,
                        "description": "Return at most this many bytes of the body",
                    },
                    "timeout_s": {
                        "type": "number",
                        "exclusiveMinimum": 0,
                        "maximum": 25,
                        "default": 10,
                        "description": "Network timeout in seconds",
                    },
                },
                "required": ["url"],
                "additionalProperties": False,
            },
        )
    ]
