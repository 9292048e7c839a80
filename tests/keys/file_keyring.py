"""A keyring backend that keeps entries in a JSON file (TEST_KEYRING_FILE).

Loaded by the `keyring` package through PYTHON_KEYRING_BACKEND in CLI tests,
standing in for the OS keyring service that does not run here. It implements
the documented KeyringBackend interface (get/set/delete_password).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from keyring.backend import KeyringBackend
from keyring.errors import PasswordDeleteError


class FileKeyring(KeyringBackend):
    priority = 1  # type: ignore[assignment]

    def _path(self) -> Path:
        return Path(os.environ["TEST_KEYRING_FILE"])

    def _load(self) -> dict[str, str]:
        try:
            return json.loads(self._path().read_text())
        except FileNotFoundError:
            return {}

    def get_password(self, service: str, username: str) -> str | None:
        return self._load().get(f"{service}\0{username}")

    def set_password(self, service: str, username: str, password: str) -> None:
        entries = self._load()
        entries[f"{service}\0{username}"] = password
        self._path().write_text(json.dumps(entries))

    def delete_password(self, service: str, username: str) -> None:
        entries = self._load()
        if entries.pop(f"{service}\0{username}", None) is None:
            raise PasswordDeleteError("not found")
        self._path().write_text(json.dumps(entries))
