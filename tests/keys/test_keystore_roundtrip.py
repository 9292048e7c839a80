"""Round trips: whatever is stored comes back, after a fresh open, and nothing else."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from llf_host import KeyNotFoundError
from llf_host import KeyStoreError
from llf_host import KeyStoreLocked

from .helpers import PASSPHRASE
from .helpers import fast_store

key_names = st.from_regex(r"\A[A-Za-z0-9_.:-]{1,128}\Z")
values = st.text(min_size=1, max_size=300)


@settings(max_examples=60)
@given(items=st.dictionaries(key_names, values, min_size=1, max_size=6))
def test_any_names_and_values_round_trip(tmp_path_factory, items):
    path = tmp_path_factory.mktemp("store") / "keys.enc"
    writer = fast_store(path)
    for name, value in items.items():
        writer.set(name, value)

    reader = fast_store(path)
    assert reader.names() == sorted(items)
    for name, value in items.items():
        assert reader.read_key(name, plugin="p") == value
    ciphertext = path.read_bytes().split(b"\n")[1]
    for value in items.values():
        if len(value) >= 8:  # shorter strings may occur in random base64 by chance
            assert value.encode("utf-8") not in ciphertext


@settings(max_examples=30)
@given(value=values, other=values)
def test_replacing_a_value_keeps_created_and_moves_updated(tmp_path_factory, value, other):
    store = fast_store(tmp_path_factory.mktemp("store") / "keys.enc")
    first = store.set("API_KEY", value)
    second = store.set("API_KEY", other)
    assert second.created == first.created
    assert second.updated >= first.updated
    assert store.read_key("API_KEY", plugin="p") == other


def test_list_shows_names_and_dates_never_values(tmp_path):
    store = fast_store(tmp_path / "keys.enc")
    store.set("B_KEY", "value-of-b-123")
    store.set("A_KEY", "value-of-a-123")
    infos = store.list()
    assert [i.name for i in infos] == ["A_KEY", "B_KEY"]
    assert all(i.created <= i.updated for i in infos)
    assert "value-of" not in repr(infos)


def test_delete_and_missing_keys(tmp_path):
    store = fast_store(tmp_path / "keys.enc")
    store.set("GONE", "secret-to-delete")
    store.delete("GONE")
    assert store.names() == []
    with pytest.raises(KeyNotFoundError) as info:
        store.read_key("GONE", plugin="p")
    assert info.value.hint == "run `llf-host keys set GONE`"
    with pytest.raises(KeyNotFoundError):
        store.delete("GONE")


def test_no_store_yet_means_not_found_not_locked(tmp_path):
    store = fast_store(tmp_path / "keys.enc", passphrase=None)
    with pytest.raises(KeyNotFoundError, match="no key store yet"):
        store.read_key("ANY", plugin="p")


def test_locked_store_refuses_with_the_fix(tmp_path):
    fast_store(tmp_path / "keys.enc").set("K", "secret-value-k")
    locked = fast_store(tmp_path / "keys.enc", passphrase=None)
    with pytest.raises(KeyStoreLocked) as info:
        locked.read_key("K", plugin="prov")
    assert "LLF_HOST_PASSPHRASE" in info.value.hint
    assert "llf-host keys unlock" in info.value.hint
    assert info.value.data["plugin"] == "prov"
    with pytest.raises(KeyStoreLocked):
        locked.set("K2", "another-secret")


@pytest.mark.parametrize("name", ["", "has space", "slash/name", "x" * 129, "ünïcode"])
def test_invalid_names_are_refused(tmp_path, name):
    store = fast_store(tmp_path / "keys.enc")
    with pytest.raises(KeyStoreError, match="not a valid key name"):
        store.set(name, "some-secret-value")
    assert not store.exists


@pytest.mark.parametrize("value", ["", "MARKER-42 \ud800"])
def test_invalid_values_are_refused_without_echo(tmp_path, value):
    store = fast_store(tmp_path / "keys.enc")
    with pytest.raises(KeyStoreError) as info:
        store.set("K", value)
    assert "nothing was stored" in info.value.message
    assert "MARKER-42" not in str(info.value.to_wire())
    assert not store.exists


def test_set_many_skips_existing_unless_overwrite(tmp_path):
    store = fast_store(tmp_path / "keys.enc")
    store.set("A", "original-a")
    written = store.set_many({"A": "new-a-value", "B": "new-b-value"}, overwrite=False)
    assert [i.name for i in written] == ["B"]
    assert store.read_key("A", plugin="p") == "original-a"
    store.set_many({"A": "new-a-value"}, overwrite=True)
    assert store.read_key("A", plugin="p") == "new-a-value"


def test_rotation_keeps_every_key_and_changes_the_passphrase(tmp_path):
    path = tmp_path / "keys.enc"
    store = fast_store(path)
    items = {f"KEY_{i}": f"value-{i}-" + "z" * i for i in range(12)}
    store.set_many(items)
    old_blob = path.read_bytes()
    assert store.rotate("the new passphrase") == 12
    assert path.read_bytes().split(b"\n")[0] != old_blob.split(b"\n")[0]  # new salt

    reopened = fast_store(path, passphrase="the new passphrase")
    assert {n: reopened.read_key(n, plugin="p") for n in reopened.names()} == items
    from llf_host import KeyStoreCorrupt

    with pytest.raises(KeyStoreCorrupt, match="wrong passphrase"):
        fast_store(path, passphrase=PASSPHRASE)


def test_rotation_can_raise_the_kdf_cost(tmp_path):
    from llf_host._keys import ScryptParams

    path = tmp_path / "keys.enc"
    store = fast_store(path)
    store.set("K", "value-before-rotation")
    store.rotate("next", kdf=ScryptParams(n=1 << 11, r=8, p=2))
    info = fast_store(path, passphrase="next").describe()
    assert info["kdf"] == {"name": "scrypt", "n": 2048, "r": 8, "p": 2}
