"""The built-in tools. Standard library only: this module runs in the sandbox worker.

The folders a call may read arrive in ``LLF_FS_READ`` / ``LLF_FS_WRITE``
(``os.pathsep``-separated, set by the sandbox from the effective grants). The
kernel (Landlock) enforces them; these functions only use them to resolve
relative paths and to list the granted roots.
"""

# ruff: noqa: PTH117, PTH118
# os.path keeps this module's imports (and the sandbox worker) small.

from __future__ import annotations

import ast
import datetime
import errno
import math
import operator
import os
import stat
from collections.abc import Callable
from typing import Any

__all__ = ["calculate", "current_time", "list_dir", "read_file"]


def _granted_roots() -> list[str]:
    roots: list[str] = []
    for var in ("LLF_FS_READ", "LLF_FS_WRITE"):
        roots.extend(p for p in os.environ.get(var, "").split(os.pathsep) if p)
    return roots


def _resolve(path: str) -> str:
    """``path`` (absolute, or relative to the first granted folder) inside a granted folder.

    The sandbox (Landlock) also enforces this; checking here gives a clear message,
    and keeps the system files the interpreter itself may read (``/usr``,
    ``/etc/passwd``...) out of these tools' reach.
    """
    roots = [os.path.realpath(r) for r in _granted_roots()]
    if not roots:
        raise ValueError(
            "no folder is granted to these tools: add one to your config, e.g. "
            '[sandbox.grants.tools_builtin] filesystem = ["~/notes"]'
        )
    full = os.path.realpath(path if os.path.isabs(path) else os.path.join(roots[0], path))
    if not any(full == root or full.startswith(root.rstrip(os.sep) + os.sep) for root in roots):
        raise PermissionError(
            errno.EACCES,
            f"outside the granted folders ({', '.join(roots)}); grant its folder in "
            "[sandbox.grants.tools_builtin] filesystem = [...]",
            full,
        )
    return full


def read_file(path: str, max_bytes: int = 65536) -> dict[str, Any]:
    """Read a text file inside a granted folder (at most ``max_bytes``)."""
    full = _resolve(path)
    with open(full, "rb") as handle:
        data = handle.read(max_bytes + 1)
    truncated = len(data) > max_bytes
    data = data[:max_bytes]
    if b"\0" in data[:8192]:
        raise ValueError(f"{full} looks like a binary file; read_file returns text only")
    return {
        "path": full,
        "text": data.decode("utf-8", "replace"),
        "bytes": len(data),
        "truncated": truncated,
    }


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "dir"
    if stat.S_ISREG(mode):
        return "file"
    if stat.S_ISLNK(mode):
        return "link"
    return "other"


def list_dir(path: str = "", limit: int = 500) -> dict[str, Any]:
    """List a granted folder; without a path, the granted folders themselves."""
    if not path:
        return {
            "path": "",
            "entries": [{"name": root, "kind": "dir"} for root in _granted_roots()],
            "truncated": False,
        }
    full = _resolve(path)
    entries: list[dict[str, Any]] = []
    truncated = False
    with os.scandir(full) as iterator:
        for entry in sorted(iterator, key=lambda e: e.name):
            if len(entries) >= limit:
                truncated = True
                break
            info = entry.stat(follow_symlinks=False)
            item: dict[str, Any] = {"name": entry.name, "kind": _kind(info.st_mode)}
            if stat.S_ISREG(info.st_mode):
                item["size"] = info.st_size
            entries.append(item)
    return {"path": full, "entries": entries, "truncated": truncated}


_BINARY: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_UNARY: dict[type[ast.unaryop], Callable[[Any], Any]] = {
    ast.UAdd: operator.pos,
    ast.USub: operator.neg,
}
_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "sqrt": math.sqrt,
    "sin": math.sin,
    "cos": math.cos,
    "tan": math.tan,
    "log": math.log,
    "log10": math.log10,
    "exp": math.exp,
    "floor": math.floor,
    "ceil": math.ceil,
    "abs": abs,
    "round": round,
    "min": min,
    "max": max,
}
_CONSTANTS = {"pi": math.pi, "e": math.e, "tau": math.tau}
_MAX_EXPONENT = 10_000
_MAX_DIGITS = 10_000


def _check_size(value: Any) -> Any:
    if isinstance(value, int) and value.bit_length() > _MAX_DIGITS * 3.33:
        raise ValueError(f"the result has more than {_MAX_DIGITS} digits")
    return value


def _eval(node: ast.AST) -> Any:
    if isinstance(node, ast.Expression):
        return _eval(node.body)
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        return node.value
    if isinstance(node, ast.Name) and node.id in _CONSTANTS:
        return _CONSTANTS[node.id]
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _UNARY[type(node.op)](_eval(node.operand))
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left, right = _eval(node.left), _eval(node.right)
        if isinstance(node.op, ast.Pow) and abs(right) > _MAX_EXPONENT:
            raise ValueError(f"exponents above {_MAX_EXPONENT} are not allowed")
        return _check_size(_BINARY[type(node.op)](left, right))
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id in _FUNCTIONS
        and not node.keywords
    ):
        return _check_size(_FUNCTIONS[node.func.id](*[_eval(a) for a in node.args]))
    raise ValueError(f"unsupported element in expression: {ast.dump(node)[:80]}")


def calculate(expression: str) -> dict[str, Any]:
    """Evaluate an arithmetic expression safely (an AST walk, never ``eval``)."""
    try:
        tree = ast.parse(expression, mode="eval")
    except SyntaxError as exc:
        raise ValueError(f"not an arithmetic expression: {exc.msg}") from None
    try:
        value = _eval(tree)
    except ZeroDivisionError:
        raise ValueError("division by zero") from None
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("the result is not a finite number")
    if isinstance(value, complex):
        raise ValueError("the result is a complex number")
    return {"expression": expression, "value": value}


def current_time(timezone: str = "UTC") -> dict[str, Any]:
    """The current date and time in ``timezone`` (IANA name, ``UTC`` or ``local``)."""
    now = datetime.datetime.now(datetime.UTC)
    if timezone.lower() == "local":
        local = now.astimezone()
        name = local.tzname() or "local"
    elif timezone.upper() == "UTC":
        local, name = now, "UTC"
    else:
        import zoneinfo

        try:
            zone = zoneinfo.ZoneInfo(timezone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {timezone!r}; use an IANA name such as Europe/Paris"
            ) from None
        local, name = now.astimezone(zone), timezone
    offset = local.utcoffset() or datetime.timedelta()
    return {
        "timezone": name,
        "iso": local.isoformat(timespec="seconds"),
        "date": local.date().isoformat(),
        "time": local.time().isoformat(timespec="seconds"),
        "weekday": local.strftime("%A"),
        "utc_offset": f"{'+' if offset >= datetime.timedelta() else '-'}"
        f"{abs(int(offset.total_seconds())) // 3600:02d}:"
        f"{abs(int(offset.total_seconds())) % 3600 // 60:02d}",
        "unix": round(now.timestamp(), 3),
    }
