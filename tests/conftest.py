"""Shared fixtures: every test gets a fresh, isolated llf-host home."""

from __future__ import annotations

import os

from hypothesis import HealthCheck
from hypothesis import settings

pytest_plugins = ["llf_host.testing"]

# The machines here are small and shared: timing-based health checks and
# deadlines only produce noise. Correctness checks stay on.
settings.register_profile(
    "llf",
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
# CI replays the same examples every run (a red CI blocks landing, so it must not
# depend on luck); local runs keep exploring new ones.
settings.register_profile("ci", parent=settings.get_profile("llf"), derandomize=True)
settings.load_profile(os.environ.get("LLF_HYPOTHESIS_PROFILE", "llf"))
