"""Shared pieces of the key store tests."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from urllib.parse import quote
from urllib.parse import quote_plus

from llf_host._keys import KeyStore
from llf_host._keys import ScryptParams

#: Cheap scrypt for tests (the default, 2^17, stays the default).
FAST_KDF = ScryptParams(n=1 << 10, r=8, p=1)
FAST_CONFIG = {"keys": {"scrypt_log2_n": 10, "keyring": False}}
PASSPHRASE = "test passphrase ✓"


def fast_store(path: Path, passphrase: str | None = PASSPHRASE, **kwargs) -> KeyStore:
    store = KeyStore(path, kdf=FAST_KDF, **kwargs)
    if passphrase is not None:
        store.unlock(passphrase)
    return store


def leak_forms(value: str) -> list[str]:
    """The forms a leaked secret would take: raw, base64 (std/url-safe), URL-encoded."""
    raw = value.encode("utf-8")
    return sorted(
        {
            value,
            base64.b64encode(raw).decode(),
            base64.urlsafe_b64encode(raw).decode(),
            base64.b64encode(raw).decode().rstrip("="),
            quote(value, safe=""),
            quote_plus(value, safe=""),
        }
    )


def scan_for(secrets: dict[str, str], blobs: dict[str, bytes]) -> list[str]:
    """Every (where, key name, form) whose bytes appear in a blob."""
    hits = []
    for where, blob in blobs.items():
        for name, value in secrets.items():
            for form in leak_forms(value):
                if form.encode("utf-8") in blob:
                    hits.append(f"{where}: {name} as {form[:12]}...")
    return hits


def files_under(root: Path) -> dict[str, bytes]:
    out = {}
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.is_symlink():
            out[str(path.relative_to(root))] = path.read_bytes()
    return out


def cli_env(home: Path, **extra: str) -> dict[str, str]:
    """An environment for `llf-host` subprocesses: tmp home, cheap scrypt, no keyring."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LLF_HOST", "PYTHON_KEYRING"))}
    env["LLF_HOST_HOME"] = str(home)
    env["LLF_HOST__KEYS__SCRYPT_LOG2_N"] = "10"
    env["LLF_HOST_PLUGINS"] = ""
    env.update(extra)
    return env


def run_cli(
    args: list[str], env: dict[str, str], stdin: str = "", timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run `llf-host ARGS` as a user would: a separate process, secrets on stdin."""
    script = Path(sys.executable).parent / "llf-host"
    command = [str(script)] if script.exists() else [sys.executable, "-m", "llf_host._cli"]
    return subprocess.run(
        [*command, *args],
        input=stdin,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        start_new_session=True,
        check=False,
    )


def write_plugin(root: Path, name: str, body: str, manifest_extra: str = "") -> Path:
    folder = root / name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "plugin.toml").write_text(
        f'[plugin]\nname = "{name}"\nversion = "1.0"\n{textwrap.dedent(manifest_extra)}'
    )
    (folder / "plugin.py").write_text(textwrap.dedent(body))
    return folder
