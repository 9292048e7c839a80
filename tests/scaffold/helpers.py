"""Helpers for the scaffold tests: generate plugins, run their tests, drive a real serve."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

from llf_host._scaffold import KINDS
from llf_host._scaffold import generate
from llf_host.client import AsyncClient
from llf_host.testing import home_environ

__all__ = [
    "KINDS",
    "NAMES",
    "cli",
    "generate_all",
    "module_of",
    "run_generated_tests",
    "serve",
]

#: The plugin generated for each kind (a '-' in each name checks the module mapping).
NAMES = {kind: f"my-{kind}" for kind in KINDS}


def module_of(kind: str) -> str:
    """The Python-safe name of the generated plugin of ``kind``."""
    return NAMES[kind].replace("-", "_")


def generate_all(directory: Path, *, package: bool) -> dict[str, Path]:
    """Generate every kind under ``directory``; kind -> the plugin's root folder."""
    return {kind: generate(kind, NAMES[kind], directory, package=package)[0] for kind in KINDS}


def clean_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment without the developer's llf-host settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLF_HOST")}
    env.pop("PYTEST_ADDOPTS", None)
    env.update(extra or {})
    return env


def run_generated_tests(root: Path, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    """``python -m pytest`` in a generated plugin's folder, as its author would run it."""
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=root,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def cli(
    *args: str, home: Path, cwd: Path | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run ``llf-host ARGS`` with every folder under ``home``."""
    return subprocess.run(
        [sys.executable, "-m", "llf_host._cli", *args],
        cwd=cwd,
        env=home_environ(home),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@contextlib.asynccontextmanager
async def serve(
    home: Path,
    *,
    plugins_dirs: tuple[Path, ...] = (),
    allow: str | None = None,
    extra_env: dict[str, str] | None = None,
) -> AsyncIterator[AsyncClient]:
    """A real ``llf-host serve`` with its home under ``home``, initialized."""
    env = home_environ(home, extra_env)
    if allow is not None:
        env["LLF_HOST_PLUGINS"] = allow
    options: list[str] = []
    for folder in plugins_dirs:
        options += ["--plugins-dir", str(folder)]
    home.mkdir(parents=True, exist_ok=True)
    with (home / "serve.log").open("ab") as log:  # read it when a test fails
        client = await AsyncClient.spawn(options=options, env=env, stderr=log.fileno())
        try:
            await asyncio.wait_for(client.initialize(), 60)
            yield client
        finally:
            await client.aclose()
