"""What a warm worker is started with: the plugin's functions, grants and layers."""

from __future__ import annotations

import dataclasses
import os
import sys
from pathlib import Path
from typing import Any

from ._limits import Limits

__all__ = ["LAYERS", "NetworkGrant", "WorkerSpec", "child_environment"]

#: Isolation layers a worker applies, in the order ``llf-host doctor`` shows them.
LAYERS: tuple[str, ...] = (
    "netns",
    "mountns",
    "pidns",
    "cgroup",
    "landlock",
    "seccomp",
)

_ENV_PASSTHROUGH = ("LANG", "TZ")


@dataclasses.dataclass(frozen=True)
class NetworkGrant:
    """Destinations a plugin's tools may reach: ``(host, port)``, port None = any."""

    destinations: tuple[tuple[str, int | None], ...] = ()

    @property
    def granted(self) -> bool:
        """Whether any network access is granted."""
        return bool(self.destinations)

    def tcp_ports(self) -> list[int] | None:
        """Ports Landlock should allow for TCP connect, or None for any port."""
        if any(port is None for _host, port in self.destinations):
            return None
        return sorted({port for _host, port in self.destinations if port is not None})

    def describe(self) -> list[str]:
        """``host:port`` strings for messages and the child's environment."""
        return [f"{h}:{p}" if p is not None else h for h, p in self.destinations]


@dataclasses.dataclass
class WorkerSpec:
    """Everything needed to start one plugin's warm worker.

    :param functions: tool reference (as the host names it) -> (module, attribute).
    :param packages: synthetic package name -> folders (``__path__``) so the
        plugin's relative imports work without site-packages on ``sys.path``.
    :param plugin_paths: read-only paths of the plugin's own code.
    :param read_grants: extra read-only paths (filesystem grants).
    :param write_grants: extra read-write paths (filesystem grants with write).
    :param runtime_dir: a private folder for this worker (the call workdir lives there).
    :param cgroup_root: where to create the worker's pids cgroups, if available.
    :param layers: layer name -> requested (see :data:`LAYERS`).
    :param user: a uid to run the worker as; the unprivileged path (user
        namespaces) then applies. The runtime folder is handed to that uid.
    """

    plugin: str
    functions: dict[str, tuple[str, str]]
    packages: dict[str, list[str]]
    plugin_paths: list[str]
    runtime_dir: str
    read_grants: list[str] = dataclasses.field(default_factory=list)
    write_grants: list[str] = dataclasses.field(default_factory=list)
    network: NetworkGrant = NetworkGrant()
    python: str = sys.executable
    cgroup_root: str | None = None
    layers: dict[str, bool] = dataclasses.field(default_factory=dict)
    #: Run the worker as this uid (and its gid) instead of the host's (root only).
    user: int | None = None
    environ: dict[str, str] = dataclasses.field(default_factory=lambda: dict(os.environ))
    #: Keep one child forked and confined ahead of the next call (see ``_zygote``).
    prefork: bool = True
    #: The limits the first spare is prepared for (None: fork it on the first call).
    spare_limits: Limits | None = None

    def requested_layers(self) -> dict[str, bool]:
        """Every layer with its requested state (network grant turns netns off)."""
        wanted = {name: self.layers.get(name, True) for name in LAYERS}
        if self.network.granted:
            wanted["netns"] = False
        return wanted

    @property
    def workdir(self) -> str:
        """The mount point (or parent folder) of per-call working directories."""
        return str(Path(self.runtime_dir) / "work")

    def init_message(self, parent_pid: int) -> dict[str, Any]:
        """The ``init`` control message."""
        return {
            "op": "init",
            "plugin": self.plugin,
            "functions": {ref: list(target) for ref, target in self.functions.items()},
            "packages": self.packages,
            "workdir": self.workdir,
            "layers": self.requested_layers(),
            "cgroup": self.cgroup_root,
            "read_paths": [
                *system_read_paths(self.python),
                *self.plugin_paths,
                *self.read_grants,
            ],
            "write_paths": list(self.write_grants),
            "network": {
                "granted": self.network.granted,
                "destinations": [list(d) for d in self.network.destinations],
                "ports": self.network.tcp_ports(),
            },
            "env": child_environment(self),
            "parent_pid": parent_pid,
            "prefork": self.prefork,
            "spare_limits": None if self.spare_limits is None else self.spare_limits.for_child(),
        }


_SYSTEM_READ = (
    "/usr",
    "/lib",
    "/lib64",
    "/lib32",
    "/bin",
    "/sbin",
    "/etc/alternatives",
    "/etc/ca-certificates",
    "/etc/ssl",
    "/etc/pki",
    "/etc/localtime",
    "/etc/timezone",
    "/etc/resolv.conf",
    "/etc/hosts",
    "/etc/host.conf",
    "/etc/nsswitch.conf",
    "/etc/gai.conf",
    "/etc/services",
    "/etc/protocols",
    "/etc/mime.types",
    "/etc/passwd",
    "/etc/group",
    "/etc/ld.so.cache",
    "/etc/ld.so.conf",
    "/etc/ld.so.conf.d",
    "/dev/urandom",
    "/dev/random",
    "/dev/zero",
)


def system_read_paths(python: str | None = None) -> list[str]:
    """Read-only system paths: libraries, certificates, time zones, the interpreter.

    Never ``/proc``, ``/sys``, ``/home``, ``/root`` or ``/tmp`` as a whole.
    """
    paths = list(_SYSTEM_READ)
    exe = str(Path(python or sys.executable).resolve())
    prefixes = {sys.base_prefix, sys.base_exec_prefix, str(Path(exe).parent.parent)}
    paths.extend(sorted(prefixes))
    paths.append(exe)
    return paths


def child_environment(spec: WorkerSpec) -> dict[str, str]:
    """The allow-listed environment of the worker and of every call."""
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "MALLOC_ARENA_MAX": "2",
        "OPENBLAS_NUM_THREADS": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        "LLF_TOOL_PLUGIN": spec.plugin,
        "LLF_FS_READ": os.pathsep.join(spec.read_grants),
        "LLF_FS_WRITE": os.pathsep.join(spec.write_grants),
        "LLF_NETWORK": ",".join(spec.network.describe()),
    }
    for name in _ENV_PASSTHROUGH:
        value = spec.environ.get(name)
        if value:
            env[name] = value
    return env
