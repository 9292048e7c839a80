"""Generate the catalogue of built-in tools in ``docs/tools.md`` from the registry.

Usage::

    python -m llf_host._tools_doc            # print the catalogue
    python -m llf_host._tools_doc --write    # update docs/tools.md in place
    python -m llf_host._tools_doc --check    # exit 1 if docs/tools.md is out of date

Only the block between the two markers below is generated; the rest of the
page is written by hand. ``tests/sandbox/test_tools_doc.py`` runs the check.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

__all__ = ["BEGIN", "END", "catalogue", "render", "update_document"]

BEGIN = "<!-- BEGIN GENERATED TOOL CATALOGUE (python -m llf_host._tools_doc --write) -->"
END = "<!-- END GENERATED TOOL CATALOGUE -->"
DOC_PATH = Path(__file__).resolve().parents[2] / "docs" / "tools.md"


async def catalogue() -> list[dict[str, Any]]:
    """Every tool contributed by a built-in plugin, described with default settings."""
    from ._config import Config
    from ._host import Host
    from ._paths import HostPaths
    from ._tools import get_tool_runner

    with tempfile.TemporaryDirectory() as home:
        base = Path(home)
        host = Host(
            paths=HostPaths(base / "config", base / "data", base / "cache"),
            config=Config.empty(),
            user_plugins=False,
            entry_points=False,
            environ={"LLF_HOST_HOME": home},
        )
        await host.start()
        try:
            runner = get_tool_runner(host)
            out = []
            for name, entry in sorted(host.registry.tools.items()):
                record = host.plugins[entry.plugin]
                if record.source != "builtin" or record.manifest is None:
                    continue
                described = runner.describe(entry)
                manifest = record.manifest
                described["ceiling"] = {
                    "network": list(manifest.permissions.network),
                    "filesystem": [
                        f"{g.path} (write)" if g.write else g.path
                        for g in manifest.permissions.filesystem
                    ],
                }
                described["grants_mode"] = str(manifest.sandbox.get("grants", "manifest"))
                out.append({"name": name, **described})
            return out
        finally:
            await host.aclose()


def _parameters(schema: dict[str, Any]) -> list[str]:
    props: dict[str, Any] = schema.get("properties", {})
    required = set(schema.get("required", []))
    if not props:
        return ["No parameters."]
    lines = ["| parameter | type | required | default | description |", "|---|---|---|---|---|"]
    for pname, prop in props.items():
        kind = prop.get("type", "any")
        default = json.dumps(prop["default"]) if "default" in prop else ""
        constraints = [
            f"{k} {prop[k]}"
            for k in ("minimum", "maximum", "exclusiveMinimum", "minLength", "maxLength", "pattern")
            if k in prop
        ]
        desc = prop.get("description", "")
        if constraints:
            desc = f"{desc} ({', '.join(constraints)})" if desc else ", ".join(constraints)
        desc = desc.replace("|", "\\|")
        lines.append(
            f"| `{pname}` | {kind} | {'yes' if pname in required else 'no'} | "
            f"{f'`{default}`' if default else ''} | {desc} |"
        )
    return lines


def render(tools: list[dict[str, Any]]) -> str:
    """The generated Markdown block (markers included)."""
    lines = [BEGIN, ""]
    for tool in tools:
        lines.append(f"### `{tool['name']}`")
        lines.append("")
        lines.append(f"Plugin `{tool['plugin']}`. {tool['description']}")
        lines.append("")
        lines.extend(_parameters(tool["parameters"]))
        lines.append("")
        ceiling = tool["ceiling"]
        reach = ", ".join(
            [
                *(f"network `{d}`" for d in ceiling["network"]),
                *(f"files `{p}`" for p in ceiling["filesystem"]),
            ]
        )
        if tool["grants_mode"] == "user":
            perm = (
                f"Permissions (plugin-wide): nothing until you grant it in "
                f"`[sandbox.grants.{tool['plugin']}]`"
                + (f"; the manifest allows at most {reach}." if reach else ".")
            )
        else:
            perm = f"Permissions: {reach or 'none (no network, no files outside its workdir)'}."
        lines.append(perm)
        limits = tool["limits"]
        lines.append(
            f"Limits: {limits['timeout_s']:g} s wall clock, {limits['cpu_s']:g} s CPU, "
            f"{limits['memory_mb']} MiB address space, {limits['workdir_mb']} MiB workdir, "
            f"{limits['processes']} processes, {limits['output_kb']} KiB output."
            + (" Asks for approval before running." if tool["confirm"] else "")
            + (
                f" At most {tool['rate_per_minute']:g} calls per minute."
                if tool["rate_per_minute"]
                else ""
            )
        )
        lines.append("")
    lines.append(END)
    return "\n".join(lines)


def update_document(text: str, block: str) -> str:
    """``text`` with the generated block replaced (or appended when missing)."""
    if BEGIN in text and END in text:
        head, _, rest = text.partition(BEGIN)
        _, _, tail = rest.partition(END)
        return head + block + tail
    return text.rstrip("\n") + "\n\n" + block + "\n"


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point (see the module docstring)."""
    parser = argparse.ArgumentParser(description="Generate the built-in tool catalogue.")
    parser.add_argument("--write", action="store_true", help="update docs/tools.md")
    parser.add_argument("--check", action="store_true", help="exit 1 when docs/tools.md drifts")
    parser.add_argument("--path", type=Path, default=DOC_PATH)
    args = parser.parse_args(argv)
    block = render(asyncio.run(catalogue()))
    if not (args.write or args.check):
        sys.stdout.write(block + "\n")
        return 0
    current = args.path.read_text(encoding="utf-8") if args.path.exists() else ""
    wanted = update_document(current, block)
    if args.check:
        if current != wanted:
            sys.stderr.write(
                f"{args.path} is out of date: run python -m llf_host._tools_doc --write\n"
            )
            return 1
        return 0
    args.path.write_text(wanted, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
