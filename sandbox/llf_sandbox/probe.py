"""What isolation this system offers, found by trying each primitive for real.

:func:`probe` runs a throw-away ``python -I -S`` process that forks a child per
test (Landlock, seccomp, user/network/mount/pid namespaces) and looks for a
writable pids cgroup; the answer is cached for the life of the process. The
host uses it for ``llf-host doctor``, ``host/health`` and to fail closed: a
layer the report says is missing makes tools refuse to run unless degraded mode
is allowed.

Example::

    >>> from llf_sandbox.probe import probe
    >>> report = probe()
    >>> report.layers()["landlock"]
    (True, 'ABI 7')
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

__all__ = ["ProbeReport", "clear_cache", "probe"]

_BOOT = (
    "import sys, types\n"
    "pkg = types.ModuleType('llf_sandbox')\n"
    "pkg.__path__ = [sys.argv[1]]\n"
    "sys.modules['llf_sandbox'] = pkg\n"
    "from llf_sandbox._probe_child import main\n"
    "main()\n"
)
_PACKAGE_DIR = str(Path(__file__).resolve().parent)
_cache: dict[str, ProbeReport] = {}


@dataclasses.dataclass(frozen=True)
class ProbeReport:
    """The raw probe answer plus helpers to read it."""

    raw: dict[str, Any]

    @property
    def linux(self) -> bool:
        """Whether this is Linux with a known syscall table."""
        return str(self.raw.get("platform", "")).startswith("linux") and (
            self.raw.get("arch") in ("x86_64", "aarch64")
        )

    @property
    def root(self) -> bool:
        """Whether the host runs as root."""
        return self.raw.get("euid") == 0

    @property
    def cgroup_parent(self) -> str | None:
        """A writable pids cgroup folder under which workers create theirs."""
        cgroup = self.raw.get("cgroup") or {}
        if isinstance(cgroup, dict) and cgroup.get("available"):
            return str(cgroup["parent"])
        return None

    def layers(self) -> dict[str, tuple[bool, str]]:
        """Layer name -> (available, explanation), in the order ``doctor`` shows them."""
        raw = self.raw

        def state(key: str, what: str) -> tuple[bool, str]:
            value = raw.get(key)
            if value is True:
                return True, what
            return False, str(value or "not tested on this platform")

        abi = int(raw.get("landlock_abi") or 0)
        landlock_ok = raw.get("landlock") is True
        cgroup = raw.get("cgroup") or {}
        return {
            "netns": state("netns", "empty network namespace (no interfaces up)"),
            "mountns": state("mountns", "private mounts, size-capped tmpfs workdir"),
            "pidns": state("pidns", "pid namespace per call (teardown kills everything)"),
            "cgroup": (
                (True, f"pids cgroup {cgroup.get('kind')} at {cgroup.get('parent')}")
                if isinstance(cgroup, dict) and cgroup.get("available")
                else (False, str(cgroup.get("reason", "not tested")) if cgroup else "not tested")
            ),
            "landlock": (
                (True, f"ABI {abi}" + ("" if abi >= 6 else " (no signal/socket scoping)"))
                if landlock_ok
                else (False, str(raw.get("landlock") or "not available"))
            ),
            "seccomp": state("seccomp", "syscall filter (cBPF)"),
            "userns": state("userns", "user namespaces (unprivileged path)"),
        }

    def missing(self, required: list[str]) -> list[str]:
        """Which of ``required`` layers are unavailable."""
        layers = self.layers()
        return [name for name in required if not layers.get(name, (False, ""))[0]]

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: the raw answer plus the per-layer summary."""
        return {
            **self.raw,
            "layers": {
                k: {"available": ok, "detail": why} for k, (ok, why) in self.layers().items()
            },
        }


def probe(
    python: str | None = None, *, timeout: float = 20.0, refresh: bool = False
) -> ProbeReport:
    """Probe (once per interpreter path) and return the report.

    Never raises: a probe that cannot run reports every layer unavailable.
    """
    interpreter = python or sys.executable
    if not refresh and interpreter in _cache:
        return _cache[interpreter]
    env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}
    tmp = os.environ.get("TMPDIR")
    if tmp:
        env["TMPDIR"] = tmp
    try:
        done = subprocess.run(
            [interpreter, "-I", "-S", "-c", _BOOT, _PACKAGE_DIR],
            capture_output=True,
            env=env,
            timeout=timeout,
            check=False,
            start_new_session=True,
        )
        raw = json.loads(done.stdout.decode("utf-8") or "{}")
        if not isinstance(raw, dict) or not raw:
            raw = {"error": done.stderr.decode("utf-8", "replace")[-2000:] or "no answer"}
    except (OSError, subprocess.TimeoutExpired, ValueError) as exc:
        raw = {"error": f"{type(exc).__name__}: {exc}"}
    raw.setdefault("platform", sys.platform)
    report = ProbeReport(raw)
    _cache[interpreter] = report
    return report


def clear_cache() -> None:
    """Forget cached reports (tests)."""
    _cache.clear()
