"""Shared fixtures: every test gets a fresh, isolated llf-host home."""

from __future__ import annotations

pytest_plugins = ["llf_host.testing"]
