"""``llf-host new``: generate a plugin that works and passes its own tests.

Templates live in ``templates/<kind>/`` (plus ``templates/common/``) as
``*.tmpl`` files rendered with :class:`string.Template` (``${name}``...). A
drop-in layout puts everything in one folder; ``--package`` wraps the same
plugin in a pip-installable distribution with an entry point.
"""

from __future__ import annotations

import keyword
import re
import string
from importlib import resources
from pathlib import Path
from typing import Literal
from typing import get_args

from .._errors import LLMError
from .._version import HOST_API_VERSION
from .._version import __version__

__all__ = ["KINDS", "Kind", "ScaffoldError", "generate", "validate_name"]

Kind = Literal["provider", "tool", "memory", "exporter", "auditor"]
KINDS: tuple[str, ...] = get_args(Kind)

_NAME_RE = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")

_DESCRIPTIONS = {
    "provider": "Chat models from an OpenAI-compatible server",
    "tool": "Word statistics as a tool a model can call",
    "memory": "Conversations and memories kept in a JSON file",
    "exporter": "Exports conversations as CSV",
    "auditor": "Writes audit events to a JSON Lines file",
}

#: What to do with each kind once it is installed (README "Use it"); ${...} filled later.
_USAGE = {
    "provider": (
        "Point it at your server in llf-host's `config.toml` (`llf-host config path`), "
        "and add the server's host:port to `[permissions] network` in `plugin.toml`:\n\n"
        '```toml\n[plugins.${name}]\napi_base = "http://127.0.0.1:8080/v1"\n'
        'models = ["my-model"]\n```\n\n'
        'Then `llf-host chat -m ${name}/my-model "Hello"`. If the server needs a key: '
        "`llf-host keys set ${key_name}`."
    ),
    "tool": (
        "Call it yourself: `llf-host tools call ${module}_stats --args "
        '\'{"text": "a b a"}\'`. Models see it in `tools/list` and call it through '
        "the host; every call runs in the sandbox."
    ),
    "memory": (
        "Select it in llf-host's `config.toml` (`llf-host config path`):\n\n"
        '```toml\n[host]\nmemory_backend = "${module}"\n```\n\n'
        "Then `llf-host conversations list`, `chat/complete` with a conversation, "
        "search and the trash all use it. Everything is kept in `memory.json` in the "
        "plugin's data folder (or the file set with `path` under `[plugins.${name}]`)."
    ),
    "exporter": (
        "`llf-host export --all --format ${module} -o conversations.csv`; over the "
        'protocol, `export/conversation` with `"format": "${module}"`.'
    ),
    "auditor": (
        "It receives every audit event; they are written to `events.jsonl` in the "
        "plugin's data folder. Keep only some kinds with "
        '`[plugins.${name}] kinds = ["tool.", "key."]`.'
    ),
}

_FILE_NOTES = {
    "plugin.toml": "the manifest: name, version, permissions, config schema",
    "plugin.py": "the hook implementations the host calls",
    "provider.py": "the Provider: list_models, health, chat (streaming)",
    "tools.py": "the tool functions (standard library only: they run in the sandbox)",
    "exporter.py": "the Exporter",
    "auditor.py": "the Auditor",
    "backend.py": "the MemoryBackend: conversations, memories, search, trash",
    "store.py": "the JSON file the backend keeps everything in (atomic writes)",
    "search.py": "the search syntax matched in plain Python, with snippets",
    "tests/test_plugin.py": "tests that load the plugin like a user's host does",
    "conftest.py": "enables llf_host.testing's fixtures",
    "pytest.ini": "pytest settings (async tests)",
    "pyproject.toml": "packaging: the llf_host.plugins entry point",
}


class ScaffoldError(LLMError):
    """The plugin cannot be generated as asked (bad name, existing files)."""

    code = -31030
    kind = "scaffold_error"


def validate_name(name: str) -> str:
    """Check a plugin name; returns it or raises :class:`ScaffoldError` with the fix."""
    if not _NAME_RE.match(name):
        raise ScaffoldError(
            f"{name!r} is not a valid plugin name",
            hint="use lowercase letters, digits, '-' or '_', starting with a letter (at most 64)",
            name=name,
        )
    module = name.replace("-", "_")
    if keyword.iskeyword(module):
        raise ScaffoldError(
            f"{name!r} is a Python keyword and cannot name a module",
            hint=f"pick another name, e.g. {name}_plugin",
            name=name,
        )
    return name


def _templates(kind: str) -> list[tuple[str, str]]:
    root = resources.files("llf_host._scaffold").joinpath("templates")
    out: list[tuple[str, str]] = []
    for folder in ("common", kind):
        base = root.joinpath(folder)
        stack = [(base, "")]
        while stack:
            node, prefix = stack.pop()
            for child in node.iterdir():
                rel = f"{prefix}{child.name}"
                if child.is_dir():
                    stack.append((child, rel + "/"))
                elif child.name.endswith(".tmpl"):
                    out.append((rel[: -len(".tmpl")], child.read_text(encoding="utf-8")))
    return sorted(out)


def generate(
    kind: str,
    name: str,
    directory: Path,
    *,
    package: bool = False,
    force: bool = False,
    description: str | None = None,
) -> tuple[Path, list[Path]]:
    """Write a new plugin of ``kind`` called ``name`` under ``directory``.

    Returns the plugin's folder (the one to drop into a plugins folder, or the
    distribution root with ``package``) and every file written. Never overwrites
    an existing file unless ``force``.
    """
    if kind not in KINDS:
        raise ScaffoldError(
            f"unknown plugin kind {kind!r}",
            hint=f"choose one of: {', '.join(KINDS)}",
            kind_requested=kind,
        )
    validate_name(name)
    module = name.replace("-", "_")
    class_name = (
        "".join(part.capitalize() for part in re.split(r"[-_]", name))
        + {
            "provider": "Provider",
            "tool": "Tools",
            "memory": "Backend",
            "exporter": "Exporter",
            "auditor": "Auditor",
        }[kind]
    )
    root = directory / (f"llf-{name}" if package else name)
    plugin_dir = root / "src" / f"llf_{module}" if package else root
    files: dict[Path, str] = {}
    desc = description or _DESCRIPTIONS[kind]
    listing = "\n".join(
        f"- `{rel}`: {note}"
        for rel, note in _FILE_NOTES.items()
        if any(t[0] == rel for t in _templates(kind)) or (rel == "pyproject.toml" and package)
    )
    if package:
        install = (
            "Install it into the environment that runs llf-host:\n\n```bash\npip install -e .\n```"
        )
        check_path = f"src/llf_{module}"
    else:
        install = (
            "Copy this folder into your plugins folder (`llf-host plugins path` prints it); "
            "a running `llf-host serve` picks it up without a restart:\n\n"
            f'```bash\ncp -r . "$(llf-host plugins path)/{name}"\n```\n\n'
            "Or load it from where it is, by naming the folder that holds it "
            "(every plugin in that folder is loaded):\n\n"
            "```bash\nllf-host --plugins-dir .. plugins list\n```"
        )
        check_path = "."
    values = {
        "name": name,
        "module": module,
        "class_name": class_name,
        "kind": kind,
        "description": desc.replace('"', "'"),
        "host_api": HOST_API_VERSION.split(".")[0],
        "entry": "plugin",
        "key_name": f"{module.upper()}_API_KEY",
        "install_text": install,
        "check_path": check_path,
        "files_text": listing,
    }
    values["usage_text"] = string.Template(_USAGE[kind]).safe_substitute(values)
    for rel, text in _templates(kind):
        rendered = string.Template(text).safe_substitute(values)
        if rel in {"conftest.py", "pytest.ini", "README.md"} or rel.startswith("tests/"):
            target = root / rel
        else:
            target = plugin_dir / rel
        files[target] = rendered
    if package:
        files[root / "pyproject.toml"] = _pyproject(name, module, desc)
        files[plugin_dir / "__init__.py"] = f'"""llf-host plugin {name}."""\n'
        # Tests load the plugin folder inside the package.
        for path in list(files):
            if path.parent == root / "tests":
                files[path] = files[path].replace(
                    "PLUGIN = Path(__file__).resolve().parents[1]",
                    f'PLUGIN = Path(__file__).resolve().parents[1] / "src" / "llf_{module}"',
                )
    existing = [p for p in files if p.exists()]
    if existing and not force:
        raise ScaffoldError(
            f"{existing[0]} already exists",
            hint="choose another name or --dir, or pass --force to overwrite",
            path=str(existing[0]),
        )
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root, sorted(files)


def _pyproject(name: str, module: str, description: str) -> str:
    return f"""[build-system]
requires = ["setuptools>=69"]
build-backend = "setuptools.build_meta"

[project]
name = "llf-{name}"
version = "0.1.0"
description = "{description}"
requires-python = ">=3.11"
dependencies = ["llf-host>={__version__}"]

[project.entry-points."llf_host.plugins"]
{name} = "llf_{module}.plugin"

[tool.setuptools.packages.find]
where = ["src"]

[tool.setuptools.package-data]
"llf_{module}" = ["plugin.toml"]
"""
