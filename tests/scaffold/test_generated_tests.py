"""The tests `llf-host new` writes pass at once, in a subprocess, as the author runs them."""

from __future__ import annotations

import pytest

from .helpers import KINDS
from .helpers import run_generated_tests


@pytest.mark.parametrize("kind", KINDS)
def test_drop_in_tests_pass(kind, dropins):
    done = run_generated_tests(dropins[kind])
    assert done.returncode == 0, done.stdout + done.stderr
    assert " passed" in done.stdout and "failed" not in done.stdout


@pytest.mark.parametrize("kind", KINDS)
def test_package_tests_pass(kind, packages):
    root = packages[kind]
    assert (root / "pyproject.toml").is_file()
    done = run_generated_tests(root)
    assert done.returncode == 0, done.stdout + done.stderr
    assert " passed" in done.stdout and "failed" not in done.stdout
