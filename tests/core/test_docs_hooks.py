"""docs/plugins.md documents every hook, with its exact signature and an example."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

from llf_host import hookspecs

DOC = Path(__file__).resolve().parents[2] / "docs" / "plugins.md"


def hook_signatures() -> dict[str, str]:
    out = {}
    for name, func in inspect.getmembers(hookspecs, inspect.isfunction):
        if name.startswith("llf_") and hasattr(func, "llf_spec"):
            params = ", ".join(inspect.signature(func).parameters)
            out[name] = f"{name}({params})"
    return out


def sections() -> dict[str, str]:
    text = DOC.read_text(encoding="utf-8")
    parts = re.split(r"^### `([^`]+)`\s*$", text, flags=re.MULTILINE)
    return {parts[i]: parts[i + 1] for i in range(1, len(parts) - 1, 2)}


def test_every_hook_has_a_heading_with_its_exact_signature():
    documented = sections()
    missing = [sig for sig in hook_signatures().values() if sig not in documented]
    assert not missing, f"add a '### `sig`' section to docs/plugins.md for: {missing}"


def test_every_hook_section_has_an_example_using_the_hook():
    documented = sections()
    for name, sig in hook_signatures().items():
        body = documented.get(sig, "")
        assert "```python" in body, f"{sig}: add an example"
        assert f"def {name}(" in body, f"{sig}: the example should implement {name}"


def test_no_section_documents_a_hook_that_does_not_exist():
    known = set(hook_signatures().values())
    stale = [h for h in sections() if h.startswith("llf_") and h not in known]
    assert not stale, f"docs/plugins.md documents hooks that do not exist: {stale}"


async def test_the_two_file_example_works_as_written(tmp_path, make_host):
    from llf_host.testing import chat

    text = DOC.read_text(encoding="utf-8")
    intro = text.split("## A plugin in two files", 1)[1].split("\n## ", 1)[0]
    toml = re.search(r"```toml\n(.*?)```", intro, re.DOTALL)
    code = re.search(r"```python\n(.*?)```", intro, re.DOTALL)
    assert toml and code
    folder = tmp_path / "shout"
    folder.mkdir()
    (folder / "plugin.toml").write_text(toml.group(1))
    (folder / "plugin.py").write_text(code.group(1))
    host = await make_host(plugins=[folder])
    assert host.plugins["shout"].status == "ok", host.plugins["shout"].error
    result = await chat(host, "shout/loud", "hi there")
    assert result.message.content == "HI THERE "
