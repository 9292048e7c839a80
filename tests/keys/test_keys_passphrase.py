"""Passphrase sources, in order: explicit, LLF_HOST_PASSPHRASE, OS keyring; never a prompt."""

from __future__ import annotations

import pytest

from llf_host._keys import PASSPHRASE_ENV
from llf_host._keys import find_passphrase
from llf_host._keys import keyring_available
from llf_host._keys import keyring_delete
from llf_host._keys import keyring_get
from llf_host._keys import keyring_set
from llf_host.testing import isolated_host

from .helpers import PASSPHRASE
from .helpers import fast_store


@pytest.fixture
def file_keyring(tmp_path, monkeypatch):
    """The `keyring` package with a working (file-backed) backend, restored afterwards."""
    keyring = pytest.importorskip("keyring")
    from .file_keyring import FileKeyring

    monkeypatch.setenv("TEST_KEYRING_FILE", str(tmp_path / "keyring.json"))
    previous = keyring.get_keyring()
    keyring.set_keyring(FileKeyring())
    try:
        yield
    finally:
        keyring.set_keyring(previous)


def test_sources_in_order(tmp_path, file_keyring):
    path = tmp_path / "keys.enc"
    env = {PASSPHRASE_ENV: "from env"}
    assert find_passphrase(path, environ={}) is None
    keyring_set(path, "from keyring")
    assert find_passphrase(path, environ={}) == ("from keyring", "keyring")
    assert find_passphrase(path, environ={}, use_keyring=False) is None
    assert find_passphrase(path, environ=env) == ("from env", "env")
    assert find_passphrase(path, explicit="given", environ=env) == ("given", "explicit")
    assert "from" not in repr(find_passphrase(path, environ=env))
    assert keyring_delete(path) and keyring_get(path) is None
    assert keyring_get(tmp_path / "other.enc") is None


def test_without_a_backend_the_keyring_is_simply_absent(tmp_path):
    keyring = pytest.importorskip("keyring")
    from keyring.backends import fail

    previous = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    try:
        assert not keyring_available()
        assert keyring_get(tmp_path / "keys.enc") is None
        assert not keyring_delete(tmp_path / "keys.enc")
    finally:
        keyring.set_keyring(previous)


async def test_a_host_unlocks_from_the_keyring(tmp_path, file_keyring):
    home = tmp_path / "home"
    store_file = home / "data" / "keys.enc"
    fast_store(store_file).set("K", "keyring-unlocked-value")
    keyring_set(store_file, PASSPHRASE)
    async with isolated_host(home) as host:
        assert host.keys.read_key("K", plugin="p") == "keyring-unlocked-value"
    async with isolated_host(home, config={"keys": {"keyring": False}}) as host:
        assert not host.keys.unlocked
