"""Shared fixtures: every test gets a fresh, isolated llf-host home."""

from __future__ import annotations

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
settings.load_profile("llf")
