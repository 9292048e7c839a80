"""Test set-up: llf_host.testing provides `make_host` and `llf_home`."""

pytest_plugins = ["llf_host.testing"]
