"""Fixtures: every kind generated once per session, as drop-in folders and as packages."""

from __future__ import annotations

from pathlib import Path

import pytest

from .helpers import generate_all


@pytest.fixture(scope="session")
def dropins(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """kind -> a generated drop-in plugin folder (all siblings in one folder)."""
    return generate_all(tmp_path_factory.mktemp("dropins"), package=False)


@pytest.fixture(scope="session")
def packages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """kind -> a generated distribution's root (with pyproject.toml)."""
    return generate_all(tmp_path_factory.mktemp("packages"), package=True)
