"""llf-sandbox: run tool calls in isolated, resource-limited subprocesses.

The host side (this module's exports) starts one warm worker per tool plugin
(:class:`Worker`) and sends it calls; each call runs in a freshly forked,
confined child and ends with a :class:`CallOutcome`. The child side
(``_zygote``, ``_child``, ``_landlock``, ``_seccomp``, ``_syscalls``,
``_classify``, ``_cgroup``, ``_wire``) imports only the standard library; the
worker loads it without running this ``__init__``.

This package does not depend on ``llf_host``: the host maps outcomes to its
own errors. :mod:`llf_sandbox.probe` reports what isolation the system offers.
"""

from __future__ import annotations

from ._limits import DEFAULT_LIMITS
from ._limits import LIMIT_NAMES
from ._limits import Limits
from ._outcome import CallOutcome
from ._outcome import OutcomeStatus
from ._spec import LAYERS
from ._spec import NetworkGrant
from ._spec import WorkerSpec
from ._wire import spare_key
from ._worker import Worker
from ._worker import WorkerInfo
from ._worker import WorkerStartError

__all__ = [
    "DEFAULT_LIMITS",
    "LAYERS",
    "LIMIT_NAMES",
    "CallOutcome",
    "Limits",
    "NetworkGrant",
    "OutcomeStatus",
    "Worker",
    "WorkerInfo",
    "WorkerSpec",
    "WorkerStartError",
    "spare_key",
]
