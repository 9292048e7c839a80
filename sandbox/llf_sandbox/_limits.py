"""Per-call resource limits and their defaults."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

__all__ = ["DEFAULT_LIMITS", "LIMIT_NAMES", "Limits"]


@dataclasses.dataclass(frozen=True)
class Limits:
    """What one tool call may use. Every field can be overridden per tool.

    ``memory_mb`` is address space (RLIMIT_AS), not resident memory: keep it
    generous, runtimes such as OpenBLAS reserve GBs they never touch.
    ``cpu_s`` defaults to ``timeout_s``.
    """

    #: Wall-clock seconds before SIGTERM, then SIGKILL after ``grace_s``.
    timeout_s: float = 30.0
    #: CPU seconds (RLIMIT_CPU soft; hard = soft + 1).
    cpu_s: float | None = None
    #: Address space in MiB (RLIMIT_AS).
    memory_mb: int = 4096
    #: Largest single file in MiB (RLIMIT_FSIZE).
    file_size_mb: int = 64
    #: Total size of the per-call working directory in MiB (tmpfs size).
    workdir_mb: int = 128
    #: Open file descriptors (RLIMIT_NOFILE).
    open_files: int = 256
    #: Processes and threads (pids cgroup ``pids.max``).
    processes: int = 64
    #: Cap in KiB for the result frame and for each of stdout and stderr.
    output_kb: int = 1024
    #: Seconds between SIGTERM and SIGKILL on timeout.
    grace_s: float = 0.5

    def merged(self, overrides: Mapping[str, Any] | None) -> Limits:
        """A copy with every non-``None`` value of ``overrides`` applied."""
        if not overrides:
            return self
        known = {f.name: f.type for f in dataclasses.fields(self)}
        changes: dict[str, Any] = {}
        for name, value in overrides.items():
            if value is None or name not in known:
                continue
            current = getattr(self, name)
            changes[name] = int(value) if isinstance(current, int) else float(value)
        return dataclasses.replace(self, **changes)

    @property
    def effective_cpu_s(self) -> float:
        """``cpu_s``, or the wall-clock timeout when unset."""
        return self.cpu_s if self.cpu_s is not None else self.timeout_s

    def for_child(self) -> dict[str, float]:
        """The limits the child applies itself."""
        return {
            "cpu_s": self.effective_cpu_s,
            "memory_mb": self.memory_mb,
            "file_size_mb": self.file_size_mb,
            "workdir_mb": self.workdir_mb,
            "open_files": self.open_files,
            "processes": self.processes,
            "output_kb": self.output_kb,
        }


DEFAULT_LIMITS = Limits()
#: Names accepted in ``[tools.<name>.limits]`` and ``[sandbox.limits]``.
LIMIT_NAMES = tuple(f.name for f in dataclasses.fields(Limits))
