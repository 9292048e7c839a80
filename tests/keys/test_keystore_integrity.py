"""Wrong passphrase, tampering, truncation, permissions: detected, nothing overwritten."""

from __future__ import annotations

import json
import os
import stat

import pytest
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from llf_host import KeyStoreCorrupt
from llf_host import KeyStoreLocked

from .helpers import fast_store

SECRETS = {"OPENAI_API_KEY": "sk-integrity-test-0001", "OTHER": "other-secret-0002"}


@pytest.fixture
def store_file(tmp_path):
    path = tmp_path / "data" / "keys.enc"
    fast_store(path).set_many(SECRETS)
    return path


def test_wrong_passphrase_is_reported_and_changes_nothing(store_file):
    before = store_file.read_bytes()
    wrong = fast_store(store_file, passphrase=None)
    with pytest.raises(KeyStoreCorrupt) as info:
        wrong.unlock("not the passphrase")
    assert info.value.data["reason"] == "wrong_passphrase"
    assert "nothing was changed" in info.value.message
    assert not wrong.unlocked
    with pytest.raises(KeyStoreLocked, match="wrong passphrase"):
        wrong.set("NEW", "would-be-written")
    assert store_file.read_bytes() == before


@settings(max_examples=150)
@given(data=st.data())
def test_any_single_byte_change_is_detected(store_file, data):
    blob = store_file.read_bytes()
    position = data.draw(st.integers(0, len(blob) - 1), label="position")
    mask = data.draw(st.integers(1, 255), label="xor mask")
    tampered = bytearray(blob)
    tampered[position] ^= mask
    store_file.write_bytes(bytes(tampered))
    try:
        with pytest.raises(KeyStoreCorrupt):
            fast_store(store_file)
    finally:
        store_file.write_bytes(blob)


@settings(max_examples=80)
@given(data=st.data())
def test_truncation_is_detected(store_file, data):
    blob = store_file.read_bytes()
    length = data.draw(st.integers(0, len(blob) - 1), label="length")
    store_file.write_bytes(blob[:length])
    try:
        with pytest.raises(KeyStoreCorrupt) as info:
            fast_store(store_file)
        assert info.value.data["reason"] in {"truncated", "damaged", "tampered"}
    finally:
        store_file.write_bytes(blob)


def test_tampering_after_unlock_is_caught_before_writing(store_file):
    store = fast_store(store_file)
    assert store.read_key("OTHER", plugin="p") == SECRETS["OTHER"]
    header, body, _ = store_file.read_bytes().split(b"\n")
    flipped = body[:10] + (b"A" if body[10:11] != b"A" else b"B") + body[11:]
    tampered = header + b"\n" + flipped + b"\n"
    store_file.write_bytes(tampered)
    with pytest.raises(KeyStoreCorrupt) as info:
        store.set("NEW", "must-not-be-written")
    assert info.value.data["reason"] == "tampered"
    assert store_file.read_bytes() == tampered
    with pytest.raises(KeyStoreCorrupt):
        store.read_key("OTHER", plugin="p")


def _edit_header(path, **changes):
    header, body, _ = path.read_bytes().split(b"\n")
    fields = json.loads(header)
    for key, value in changes.items():
        if key in {"n", "r", "p", "salt"}:
            fields["kdf"][key] = value
        else:
            fields[key] = value
    new_header = json.dumps(fields, sort_keys=True, separators=(",", ":")).encode()
    path.write_bytes(new_header + b"\n" + body + b"\n")
    return path.read_bytes()


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"n": 1 << 40}, "damaged"),  # refused before running scrypt (no 128 TiB allocation)
        ({"n": 1000}, "damaged"),
        ({"p": 100}, "damaged"),
        ({"version": 2}, "unsupported"),
        ({"format": "something-else"}, "damaged"),
        ({"cipher": "ROT13"}, "damaged"),
        ({"r": 9}, "wrong_passphrase"),
        ({"salt": "AAAAAAAAAAAAAAAAAAAAAA=="}, "wrong_passphrase"),
        ({"nonce": "AAAAAAAAAAAAAAAA"}, "tampered"),
    ],
)
def test_header_tampering_is_detected(store_file, changes, reason):
    tampered = _edit_header(store_file, **changes)
    with pytest.raises(KeyStoreCorrupt) as info:
        fast_store(store_file)
    assert info.value.data["reason"] == reason
    assert str(store_file) in info.value.message
    assert info.value.hint
    assert store_file.read_bytes() == tampered


def test_other_files_are_not_key_stores(tmp_path):
    path = tmp_path / "keys.enc"
    for blob in [b"", b"{}\n\n", b"not json\nAAAA\n", b'{"format":"llf-host-keys"}\n']:
        path.write_bytes(blob)
        with pytest.raises(KeyStoreCorrupt):
            fast_store(path)
        assert path.read_bytes() == blob


def test_file_and_folder_permissions(tmp_path):
    folder = tmp_path / "fresh" / "data"
    store = fast_store(folder / "keys.enc")
    store.set("K", "permission-test-value")
    assert stat.S_IMODE((folder / "keys.enc").stat().st_mode) == 0o600
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE((folder / "keys.enc.lock").stat().st_mode) == 0o600
    assert [p.name for p in folder.iterdir() if p.name.endswith(".tmp")] == []


def test_loose_permissions_are_tightened_on_write(tmp_path):
    folder = tmp_path / "data"
    folder.mkdir(mode=0o755)
    folder.chmod(0o755)
    path = folder / "keys.enc"
    store = fast_store(path)
    store.set("K", "permission-test-value")
    path.chmod(0o644)
    store.set("K2", "second-permission-value")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700


def test_a_umask_does_not_loosen_the_file(tmp_path):
    old = os.umask(0)
    try:
        fast_store(tmp_path / "d" / "keys.enc").set("K", "umask-test-value")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "d" / "keys.enc").stat().st_mode) == 0o600
