"""Syntax highlighting for code blocks in HTML exports.

Pygments is used when it is installed (it usually is: it comes with ``rich``);
otherwise a tiny built-in highlighter marks comments, strings, numbers and
keywords of the common languages. Both emit ``<span>`` elements with Pygments'
short class names (``c``, ``s``, ``m``, ``k``), styled by the page's own CSS, so
the export needs no external stylesheet.
"""

from __future__ import annotations

import html
import importlib.util
import re
from typing import Literal

Mode = Literal["auto", "pygments", "builtin", "none"]

_KEYWORDS = frozenset(
    """
    and as assert async await break case catch class const continue def default del do elif
    else enum except export extends false final finally fn for from func function go if impl
    import in interface is lambda let loop match mod module mut new nil none not null or package
    pass private protected pub public raise return self static struct super switch this throw
    true try type typeof use var void while with yield None True False
    """.split()  # noqa: SIM905 - a word list is easier to read and extend this way
)

_TOKEN = re.compile(
    r"""
    (?P<comment>\#[^\n]*|//[^\n]*|/\*.*?\*/|--[^\n]*)
  | (?P<string>"(?:\\.|[^"\\\n])*"|'(?:\\.|[^'\\\n])*'|`(?:\\.|[^`\\])*`)
  | (?P<number>\b(?:0[xX][0-9a-fA-F_]+|\d[\d_]*(?:\.\d+)?(?:[eE][+-]?\d+)?)\b)
  | (?P<word>\b[A-Za-z_][A-Za-z0-9_]*\b)
    """,
    re.VERBOSE | re.DOTALL,
)

_CLASSES = {"comment": "c", "string": "s", "number": "m", "word": "k"}
_COMMENT_STYLES = {
    "hash": {
        "python",
        "py",
        "sh",
        "bash",
        "shell",
        "zsh",
        "ruby",
        "rb",
        "r",
        "toml",
        "yaml",
        "yml",
        "perl",
        "make",
        "makefile",
        "dockerfile",
        "ini",
        "conf",
    },
    "sql": {"sql", "lua", "haskell", "hs"},
}


def pygments_available() -> bool:
    """True when Pygments can be imported."""
    return importlib.util.find_spec("pygments") is not None


def builtin_highlight(code: str, language: str) -> str:
    """Escaped HTML of ``code`` with comments, strings, numbers and keywords marked."""
    lang = language.lower()
    out: list[str] = []
    pos = 0
    for match in _TOKEN.finditer(code):
        kind = match.lastgroup or ""
        text = match.group(0)
        if kind == "comment":
            hash_comment = text.startswith("#")
            dash_comment = text.startswith("--")
            if (hash_comment and lang not in _COMMENT_STYLES["hash"] and lang) or (
                dash_comment and lang not in _COMMENT_STYLES["sql"]
            ):
                continue  # not a comment in this language: leave it as text
        if kind == "word" and text not in _KEYWORDS:
            continue
        out.append(html.escape(code[pos : match.start()], quote=False))
        out.append(f'<span class="{_CLASSES[kind]}">{html.escape(text, quote=False)}</span>')
        pos = match.end()
    out.append(html.escape(code[pos:], quote=False))
    return "".join(out)


def _pygments_highlight(code: str, language: str) -> str | None:
    from pygments import highlight
    from pygments.formatters import HtmlFormatter
    from pygments.lexers import get_lexer_by_name
    from pygments.util import ClassNotFound

    try:
        lexer = get_lexer_by_name(language, stripnl=False, ensurenl=False)
    except ClassNotFound:
        return None
    rendered: str = highlight(code, lexer, HtmlFormatter(nowrap=True))
    return rendered


def highlight_code(code: str, language: str, mode: Mode = "auto") -> str:
    """HTML for the inside of a ``<code>`` element."""
    if mode == "none":
        return html.escape(code, quote=False)
    if mode in ("auto", "pygments") and language and pygments_available():
        rendered = _pygments_highlight(code, language)
        if rendered is not None:
            return rendered
    if mode == "pygments" and not pygments_available():
        mode = "builtin"
    if not language and mode == "auto":
        return html.escape(code, quote=False)
    return builtin_highlight(code, language)
