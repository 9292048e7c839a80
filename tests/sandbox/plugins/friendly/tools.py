"""Standard library only: runs in the sandbox worker."""

from __future__ import annotations

import asyncio
import ctypes
import os
import time

from .helpers import double


def add(a: int, b: int) -> dict:
    """Add two integers."""
    return {"sum": a + b}


def limited() -> str:
    """A tool with a rate limit (set in the test config)."""
    return "ok"


def guarded(text: str) -> str:
    """A tool that needs approval (confirm = true in the test config)."""
    return text.upper()


def rendezvous(folder: str, me: str, other: str) -> str:
    """Create ``me`` in folder, then wait (bounded) until ``other`` exists."""
    with open(os.path.join(folder, me), "w") as handle:
        handle.write("here")
    for _ in range(1500):
        if os.path.exists(os.path.join(folder, other)):
            return "met"
        time.sleep(0.01)
    raise TimeoutError(f"{other} never came: calls did not run in parallel")


def sleeper(folder: str, marker: str) -> str:
    """Name this process, say it started, then sleep (for the cancellation test)."""
    libc = ctypes.CDLL(None)
    libc.prctl(15, ctypes.c_char_p(marker.encode()[:15]), 0, 0, 0)
    with open(os.path.join(folder, "started"), "w") as handle:
        handle.write(str(os.getpid()))
    time.sleep(300)
    return "woke"


def nested(items: list[int], label: str = "n") -> dict:
    """Uses a sibling module through a relative import."""
    return {"label": label, "doubled": [double(i) for i in items]}


async def async_tool(n: int) -> int:
    """Coroutine tools are run with asyncio.run in the child."""
    await asyncio.sleep(0)
    return n * 3
