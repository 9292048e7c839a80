"""The fixed parts of an HTML export: the stylesheet and the page frame.

The page is one self-contained file: inline CSS, no scripts, no fonts, images
or other resources, and a Content-Security-Policy that forbids fetching
anything, so opening it offline (or from a hostile message) makes no request.
"""

from __future__ import annotations

import html

CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'none'"

STYLE = """
:root { color-scheme: light dark; --fg: #1d1f21; --bg: #ffffff; --muted: #666a70;
  --line: #d8dbe0; --user: #eef4ff; --assistant: #f6f7f9; --system: #fff8e6;
  --tool: #eefaf1; --code: #f3f4f6; }
@media (prefers-color-scheme: dark) {
  :root { --fg: #e6e6e6; --bg: #16181c; --muted: #9aa0a6; --line: #30343b;
    --user: #1d2a3f; --assistant: #1f2228; --system: #352e1c; --tool: #1b3024;
    --code: #101215; }
}
* { box-sizing: border-box; }
body { margin: 0 auto; max-width: 58rem; padding: 1.5rem; color: var(--fg);
  background: var(--bg); font: 15px/1.55 system-ui, -apple-system, "Segoe UI", sans-serif; }
h1 { font-size: 1.5rem; margin: 2rem 0 .5rem; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: .1rem 1rem;
  color: var(--muted); margin: 0 0 1rem; }
dl.facts dt { font-weight: 600; } dl.facts dd { margin: 0; }
article.message { border: 1px solid var(--line); border-radius: .5rem; margin: .75rem 0;
  padding: .6rem .9rem; background: var(--assistant); }
article.role-user { background: var(--user); }
article.role-system, article.role-developer { background: var(--system); }
article.role-tool { background: var(--tool); }
article.branch { border-left: 4px solid #8a6cd1; }
article > header { font-size: .85rem; color: var(--muted); margin-bottom: .35rem; }
article > header .role { font-weight: 700; color: var(--fg); text-transform: capitalize; }
.text { white-space: pre-wrap; overflow-wrap: anywhere; margin: .35rem 0; }
pre { background: var(--code); border: 1px solid var(--line); border-radius: .35rem;
  padding: .6rem .75rem; overflow-x: auto; white-space: pre; font-size: .85rem; }
pre[data-lang]::before { content: attr(data-lang); display: block; color: var(--muted);
  font-size: .75rem; margin-bottom: .25rem; }
code, pre { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; }
.usage { font-size: .8rem; color: var(--muted); }
details { margin: .35rem 0; } summary { cursor: pointer; color: var(--muted); }
.tool-call .name { font-weight: 600; }
hr { border: 0; border-top: 1px solid var(--line); margin: 2rem 0; }
.hl [class^="c"] { color: #6a737d; font-style: italic; }
.hl [class^="s"] { color: #22863a; }
.hl [class^="m"] { color: #b31d28; }
.hl [class^="k"] { color: #6f42c1; font-weight: 600; }
.hl [class^="n"][class$="f"], .hl .nc { color: #005cc5; }
.hl .o, .hl .ow { color: #d73a49; }
@media (prefers-color-scheme: dark) {
  .hl [class^="c"] { color: #8b949e; } .hl [class^="s"] { color: #7ee787; }
  .hl [class^="m"] { color: #ffa657; } .hl [class^="k"] { color: #d2a8ff; }
  .hl [class^="n"][class$="f"], .hl .nc { color: #79c0ff; } .hl .o, .hl .ow { color: #ff7b72; }
}
@media print { body { max-width: none; } article.message { break-inside: avoid; } }
"""


def page(title: str, body: str) -> str:
    """A complete HTML document around ``body`` (already escaped HTML)."""
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<meta name="generator" content="llf-host exporters">\n'
        f"<title>{html.escape(title)}</title>\n<style>{STYLE}</style>\n</head>\n"
        f"<body>\n{body}\n</body>\n</html>\n"
    )
