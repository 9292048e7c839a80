"""A pool of pids cgroups, one per concurrent call, reused between calls.

Standard library only (runs in the warm worker). RLIMIT_NPROC does nothing for
root and counts every process of a uid host-wide, so the process bound is a
``pids.max`` on a cgroup the call joins before it can fork. Creating and
removing a cgroup per call costs ~0.25 ms, so slots are kept and reused: a slot
is free again once its call's pid namespace is gone (the cgroup is then empty).
Works with a cgroup v1 ``pids`` hierarchy or a cgroup v2 directory where the
``pids`` controller is enabled.
"""

# ruff: noqa: PTH103, PTH106, PTH110, PTH118
# The worker side uses os.path: pathlib (and its imports) would grow the warm
# worker that every call forks from.

from __future__ import annotations

import os
import signal

__all__ = ["CgroupPool", "CgroupSlot"]


class CgroupSlot:
    """One cgroup: its path, an open ``cgroup.procs`` fd and the last ``max`` count."""

    def __init__(self, path: str) -> None:
        self.path = path
        os.makedirs(path, exist_ok=True)
        self.procs_fd = os.open(os.path.join(path, "cgroup.procs"), os.O_WRONLY | os.O_CLOEXEC)
        # Kept open and re-read with pread: this runs after every call, in the
        # worker, where each page of Python touched costs a copy-on-write fault.
        try:
            self.events_fd = os.open(os.path.join(path, "pids.events"), os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            self.events_fd = -1
        self.max_events = self._read_max_events()
        self.limit = 0

    def _read_max_events(self) -> int:
        if self.events_fd < 0:
            return 0
        try:
            data = os.pread(self.events_fd, 256, 0)
        except OSError:
            return 0
        for line in data.splitlines():
            key, _, value = line.partition(b" ")
            if key == b"max":
                return int(value)
        return 0

    def set_limit(self, limit: int) -> None:
        """Write ``pids.max`` (only when it changes)."""
        if limit != self.limit:
            with open(os.path.join(self.path, "pids.max"), "w", encoding="ascii") as handle:
                handle.write(str(limit))
            self.limit = limit

    def limit_hit(self) -> bool:
        """Whether a fork was refused since the last call (and reset the count)."""
        now = self._read_max_events()
        hit = now > self.max_events
        self.max_events = now
        return hit

    def members(self) -> list[int]:
        """Pids still in the cgroup."""
        try:
            with open(os.path.join(self.path, "cgroup.procs"), encoding="ascii") as handle:
                return [int(line) for line in handle if line.strip()]
        except OSError:
            return []

    def live_members(self) -> list[int]:
        """Members that are not zombies (a zombie runs nothing; its parent reaps it)."""
        alive = []
        for pid in self.members():
            try:
                with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as handle:
                    state = handle.read().rpartition(")")[2].split()[0]
            except (OSError, IndexError):
                continue
            if state not in ("Z", "X"):
                alive.append(pid)
        return alive

    def kill_until_empty(self, attempts: int = 400) -> bool:
        """SIGKILL members until none is alive (bounded); True when it got there."""
        import time

        for _ in range(attempts):
            if not self.live_members():
                return True
            self.kill_all()
            time.sleep(0.005)
        return not self.live_members()

    def kill_all(self) -> None:
        """SIGKILL every member (a backstop; the pid namespace normally did it)."""
        kill_file = os.path.join(self.path, "cgroup.kill")
        if os.path.exists(kill_file):
            try:
                with open(kill_file, "w", encoding="ascii") as handle:
                    handle.write("1")
                return
            except OSError:
                pass
        for pid in self.members():
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass

    def remove(self) -> None:
        """Close the fds and remove the (empty) cgroup."""
        for fd in (self.procs_fd, self.events_fd):
            if fd >= 0:
                try:
                    os.close(fd)
                except OSError:
                    pass
        try:
            os.rmdir(self.path)
        except OSError:
            pass


class CgroupPool:
    """Slots under ``root`` (created on demand, removed on :meth:`close`)."""

    def __init__(self, root: str) -> None:
        self.root = root
        os.makedirs(root, exist_ok=True)
        self._free: list[CgroupSlot] = []
        self._draining: list[CgroupSlot] = []
        self._all: list[CgroupSlot] = []

    def acquire(self, limit: int) -> CgroupSlot:
        """A free slot with ``pids.max = limit``."""
        if self._draining:
            still = [s for s in self._draining if s.live_members()]
            self._free.extend(s for s in self._draining if s not in still)
            self._draining = still
        slot = self._free.pop() if self._free else None
        if slot is None:
            slot = CgroupSlot(os.path.join(self.root, f"s{len(self._all)}"))
            self._all.append(slot)
        slot.set_limit(limit)
        return slot

    def release(self, slot: CgroupSlot, *, check: bool = True) -> None:
        """Return a slot whose call has ended; kill leftovers first (when ``check``)."""
        if check and slot.live_members():
            slot.kill_all()
            self._draining.append(slot)
            return
        self._free.append(slot)

    def close(self) -> None:
        """Kill anything left and remove every slot and the root."""
        for slot in self._all:
            if slot.members():
                slot.kill_all()
            slot.remove()
        try:
            os.rmdir(self.root)
        except OSError:
            pass
