"""`llf-host new`: names validated with clear errors, nothing overwritten without --force."""

from __future__ import annotations

import keyword

import pytest
from hypothesis import given
from hypothesis import strategies as st

from llf_host._scaffold import ScaffoldError
from llf_host._scaffold import generate
from llf_host._scaffold import validate_name

from .helpers import KINDS
from .helpers import cli


@given(st.text(max_size=80))
def test_a_name_is_accepted_only_when_it_makes_a_module(name):
    try:
        validate_name(name)
    except ScaffoldError as exc:
        assert exc.hint and exc.data["name"] == name
        return
    module = name.replace("-", "_")
    assert module.isidentifier() and not keyword.iskeyword(module)
    assert name == name.lower() and len(name) <= 64


@pytest.mark.parametrize(
    ("name", "needle"),
    [
        ("My-Plugin", "is not a valid plugin name"),
        ("1tool", "is not a valid plugin name"),
        ("two words", "is not a valid plugin name"),
        ("a" * 65, "is not a valid plugin name"),
        ("class", "is a Python keyword"),
    ],
)
def test_bad_names_are_refused_with_a_fix(tmp_path, name, needle):
    done = cli("new", "tool", name, "--dir", str(tmp_path), home=tmp_path / "home")
    assert done.returncode == 1
    assert needle in done.stderr and "fix:" in done.stderr
    assert [p.name for p in tmp_path.iterdir() if p.name != "home"] == []


def test_an_unknown_kind_is_refused(tmp_path):
    done = cli("new", "widget", "w", "--dir", str(tmp_path), home=tmp_path / "home")
    assert done.returncode == 2 and "widget" in done.stderr
    with pytest.raises(ScaffoldError, match="unknown plugin kind"):
        generate("widget", "w", tmp_path)


def test_without_a_terminal_missing_arguments_are_errors(tmp_path):
    done = cli("new", home=tmp_path / "home", cwd=tmp_path)
    assert done.returncode == 2 and "KIND is required" in done.stderr
    done = cli("new", "tool", home=tmp_path / "home", cwd=tmp_path)
    assert done.returncode == 2 and "NAME is required" in done.stderr


@pytest.mark.parametrize("package", [False, True])
def test_existing_files_are_never_overwritten_without_force(tmp_path, package):
    flags = ["--package"] if package else []
    home = tmp_path / "home"
    first = cli("new", "tool", "keep", "--dir", str(tmp_path / "out"), *flags, home=home)
    assert first.returncode == 0, first.stderr
    root = tmp_path / "out" / ("llf-keep" if package else "keep")
    readme = root / "README.md"
    readme.write_text("my own notes")
    again = cli("new", "tool", "keep", "--dir", str(tmp_path / "out"), *flags, home=home)
    assert again.returncode == 1
    assert "already exists" in again.stderr and "--force" in again.stderr
    assert readme.read_text() == "my own notes"
    forced = cli(
        "new", "tool", "keep", "--dir", str(tmp_path / "out"), *flags, "--force", home=home
    )
    assert forced.returncode == 0, forced.stderr
    assert readme.read_text().startswith("# keep")


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_has_a_manifest_code_tests_and_readme(tmp_path, kind):
    root, files = generate(kind, "x-1", tmp_path)
    names = {str(p.relative_to(root)) for p in files}
    assert {"plugin.toml", "plugin.py", "README.md", "tests/test_plugin.py"} <= names
    text = "\n".join(p.read_text() for p in files)
    assert "${" not in text, "a template placeholder was left unfilled"
    readme = (root / "README.md").read_text()
    assert "llf-host plugins path" in readme and "python -m pytest" in readme


def test_the_command_says_what_to_do_next(tmp_path):
    done = cli("new", "exporter", "csvish", "--dir", str(tmp_path), home=tmp_path / "home")
    assert done.returncode == 0, done.stderr
    assert f"created exporter plugin 'csvish' in {tmp_path / 'csvish'}" in done.stdout
    assert "python -m pytest" in done.stdout and "plugin.toml" in done.stdout
