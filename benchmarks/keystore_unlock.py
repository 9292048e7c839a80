"""How long opening the key store takes with the default scrypt parameters.

Prints JSON: the median time to unlock a store of 20 keys with the default KDF
(N=2^17, r=8, p=1), the time of the cached read path (``read_key`` once
unlocked), and, as the baseline measured in the same run, the same unlock with
N=2^14 (Python's ``hashlib.scrypt`` default) - reported as ratios so the figure
is comparable across machines.

    .venv/bin/python benchmarks/keystore_unlock.py
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time
from pathlib import Path

import msgspec

from llf_host._keys import DEFAULT_KDF
from llf_host._keys import KeyStore
from llf_host._keys import ScryptParams

PASSPHRASE = "correct horse battery staple"
ROUNDS = 5


def make_store(folder: Path, kdf: ScryptParams) -> Path:
    path = folder / f"keys-{kdf.n}.enc"
    store = KeyStore(path, kdf=kdf)
    store.unlock(PASSPHRASE)
    store.set_many({f"KEY_{i}": f"sk-{i:04d}-" + "x" * 40 for i in range(20)})
    return path


def time_unlock(path: Path) -> float:
    samples = []
    for _ in range(ROUNDS):
        store = KeyStore(path)
        start = time.perf_counter()
        store.unlock(PASSPHRASE)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples) * 1000


def time_read(path: Path) -> float:
    store = KeyStore(path)
    store.unlock(PASSPHRASE)
    start = time.perf_counter()
    for _ in range(1000):
        store.read_key("KEY_7", plugin="bench")
    return (time.perf_counter() - start) * 1000 / 1000


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        default_path = make_store(folder, DEFAULT_KDF)
        baseline_path = make_store(folder, ScryptParams(n=1 << 14, r=8, p=1))
        unlock_ms = time_unlock(default_path)
        baseline_ms = time_unlock(baseline_path)
        read_ms = time_read(default_path)
    print(
        json.dumps(
            {
                "benchmark": "keystore_unlock",
                "kdf": {"name": "scrypt", **msgspec.structs.asdict(DEFAULT_KDF)},
                "memory_mib": 128 * DEFAULT_KDF.n * DEFAULT_KDF.r >> 20,
                "unlock_ms_median": round(unlock_ms, 1),
                "baseline_n2e14_unlock_ms_median": round(baseline_ms, 1),
                "unlock_vs_baseline_ratio": round(unlock_ms / baseline_ms, 2),
                "read_key_cached_ms": round(read_ms, 4),
                "unlock_vs_cached_read_ratio": round(unlock_ms / read_ms),
                "rounds": ROUNDS,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
