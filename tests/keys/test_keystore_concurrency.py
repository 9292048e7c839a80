"""Concurrent writers: two real processes, one store, no lost update."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time

import pytest

from llf_host import KeyStoreCorrupt

from .helpers import PASSPHRASE
from .helpers import fast_store

WRITER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from llf_host._keys import KeyStore, ScryptParams

    path, prefix, count, go = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]), Path(sys.argv[4])
    store = KeyStore(path, kdf=ScryptParams(n=1024, r=8, p=1))
    store.unlock(sys.argv[5])
    deadline = time.monotonic() + 30
    while not go.exists() and time.monotonic() < deadline:
        time.sleep(0.001)
    for i in range(count):
        store.set(f"{prefix}_{i}", f"value-{prefix}-{i}")
    """
)


def test_two_processes_never_lose_an_update(tmp_path):
    path = tmp_path / "keys.enc"
    fast_store(path).set("SEED", "seed-value-0")
    go = tmp_path / "go"
    count = 40
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(path), prefix, str(count), str(go), PASSPHRASE],
            stderr=subprocess.PIPE,
            text=True,
        )
        for prefix in ("ALPHA", "BRAVO")
    ]
    time.sleep(0.3)  # let both import and unlock; not a timing assertion
    go.touch()
    for proc in writers:
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err

    store = fast_store(path)
    expected = {"SEED"} | {f"{p}_{i}" for p in ("ALPHA", "BRAVO") for i in range(count)}
    assert set(store.names()) == expected
    assert store.read_key("BRAVO_39", plugin="t") == "value-BRAVO-39"


def test_a_writer_rereads_under_the_lock(tmp_path):
    """Two handles on one file (as two processes would have): each sees the other's keys."""
    path = tmp_path / "keys.enc"
    first, second = fast_store(path), fast_store(path)
    first.set("A", "value-from-first")
    second.set("B", "value-from-second")  # second never saw A before writing
    first.set("C", "value-from-first-again")
    assert fast_store(path).names() == ["A", "B", "C"]


def test_a_rotation_elsewhere_locks_out_the_old_passphrase(tmp_path):
    path = tmp_path / "keys.enc"
    holder = fast_store(path)
    holder.set("K", "value-before-rotation")
    fast_store(path).rotate("rotated elsewhere")
    with pytest.raises(KeyStoreCorrupt, match="rotate"):
        holder.read_key("K", plugin="p")
    with pytest.raises(KeyStoreCorrupt):
        holder.set("K2", "must-not-be-written")
    assert fast_store(path, passphrase="rotated elsewhere").names() == ["K"]


def test_a_store_deleted_while_open_is_recreated_with_the_same_passphrase(tmp_path):
    path = tmp_path / "keys.enc"
    store = fast_store(path)
    store.set("OLD", "value-old-000")
    path.unlink()
    store.set("NEW", "value-new-000")
    assert fast_store(path).names() == ["NEW"]
