"""The host side of one warm worker: start it, send calls, collect outcomes.

Standard library and asyncio only (no ``llf_host``). The worker process is
spawned with ``python -I -S`` (no site-packages, no user environment, no
``.pth`` hooks), a scrubbed environment, only its control socket as an open
fd, and its own session. Because it is a fresh ``exec``, nothing of the host's
memory (decrypted keys included) is inherited.

One :class:`Worker` serves any number of concurrent calls. The worker keeps a
*spare* child ready (forked and confined ahead of time, see ``_zygote``) and
gives this side the spare's socket. A call:

1. takes a spare prepared for its limits (or asks the worker for one);
2. creates three pipes (result, stdout, stderr) and sends their write ends
   with the call straight to the spare, then closes them here and tells the
   worker the spare was taken (it forks the next one while the call runs);
3. reads the pipes concurrently, each with a cap (overflow kills the call);
4. ends when the worker reports the process exit (a pidfd there), not on pipe
   EOF: a grandchild could hold a pipe open forever;
5. on timeout: SIGTERM, ``grace_s``, SIGKILL; on cancellation: SIGKILL.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

from ._limits import Limits
from ._outcome import CallOutcome
from ._outcome import interpret
from ._pipes import FrameReader
from ._pipes import StreamReader
from ._spare_pool import Key
from ._spare_pool import Spare
from ._spare_pool import SparePool
from ._spec import WorkerSpec
from ._spec import child_environment
from ._wire import ControlReader
from ._wire import encode_frame
from ._wire import encode_json
from ._wire import key_from_wire
from ._wire import spare_key

__all__ = ["BOOTSTRAP", "Worker", "WorkerInfo", "WorkerStartError"]

log = logging.getLogger("llf.sandbox")

#: Code run by ``python -I -S -c``: load this package's child side without its
#: ``__init__`` and without any directory on ``sys.path``.
BOOTSTRAP = (
    "import sys, types\n"
    "pkg = types.ModuleType('llf_sandbox')\n"
    "pkg.__path__ = [sys.argv[1]]\n"
    "sys.modules['llf_sandbox'] = pkg\n"
    "from llf_sandbox._zygote import main\n"
    "main(int(sys.argv[2]))\n"
)
_PACKAGE_DIR = str(Path(__file__).resolve().parent)
_STREAM_TAIL = 8 * 1024
_KILL_WAIT_S = 10.0
#: Hand-over attempts when a spare died while waiting (killed from outside).
_HANDOVER_ATTEMPTS = 3


class WorkerStartError(RuntimeError):
    """The worker could not be started or set up (``detail`` says why)."""

    def __init__(self, message: str, **detail: Any) -> None:
        super().__init__(message)
        self.detail = detail


@dataclasses.dataclass
class WorkerInfo:
    """What a started worker reported."""

    pid: int
    #: Layer name -> True (applied), or a string saying why not.
    layers: dict[str, Any]
    #: Tool reference -> None (imported) or the import traceback.
    imports: dict[str, str | None]
    python: str = ""
    start_ms: float = 0.0


class _Pending:
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.exited: asyncio.Future[dict[str, Any] | None] = loop.create_future()
        self.killed_for: str | None = None

    def finish(self, message: dict[str, Any] | None) -> None:
        if not self.exited.done():
            self.exited.set_result(message)


class Worker:
    """A warm fork server for one plugin's tools."""

    def __init__(self, spec: WorkerSpec) -> None:
        self.spec = spec
        self.info: WorkerInfo | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._sock: socket.socket | None = None
        self._reader_task: asyncio.Task[None] | None = None
        self._stderr_task: asyncio.Task[None] | None = None
        self._ready: asyncio.Future[dict[str, Any]] | None = None
        #: Calls in flight, by the id of the spare running them.
        self._calls: dict[int, _Pending] = {}
        self._spares = SparePool(self._send)
        self._control = ControlReader()
        self._send_lock = asyncio.Lock()
        self._closed = False
        self._closed_for_new = False
        self._idle = asyncio.Event()
        self._background: set[asyncio.Task[None]] = set()
        self._idle.set()

    # -- lifecycle -------------------------------------------------------------------
    @property
    def alive(self) -> bool:
        """Whether the worker process runs and accepts calls."""
        # The control channel's reader ends when the worker exits (EOF).
        return not self._closed and self._reader_task is not None and not self._reader_task.done()

    @property
    def active_calls(self) -> int:
        """Calls in flight."""
        return len(self._calls)

    @property
    def idle_spares(self) -> int:
        """Confined children waiting here for a call."""
        return self._spares.idle

    async def start(self, timeout: float = 15.0) -> WorkerInfo:
        """Spawn the worker and wait until it reports which layers hold."""
        loop = asyncio.get_running_loop()
        t0 = time.perf_counter()
        runtime = Path(self.spec.runtime_dir)
        runtime.mkdir(parents=True, exist_ok=True, mode=0o700)
        Path(self.spec.workdir).mkdir(exist_ok=True, mode=0o700)
        as_user: dict[str, Any] = {}
        if self.spec.user is not None:
            import pwd

            entry = pwd.getpwuid(self.spec.user)
            for path in (runtime, Path(self.spec.workdir)):
                os.chown(path, entry.pw_uid, entry.pw_gid)
            as_user = {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}
        parent_sock, child_sock = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self._proc = subprocess.Popen(
                [
                    self.spec.python,
                    "-I",
                    "-S",
                    "-c",
                    BOOTSTRAP,
                    _PACKAGE_DIR,
                    str(child_sock.fileno()),
                ],
                pass_fds=(child_sock.fileno(),),
                env=child_environment(self.spec),
                cwd=str(runtime),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                start_new_session=True,
                **as_user,
            )
        except OSError as exc:
            parent_sock.close()
            raise WorkerStartError(
                f"cannot start the sandbox worker for plugin {self.spec.plugin!r}: {exc}",
                python=self.spec.python,
            ) from None
        finally:
            child_sock.close()
        parent_sock.setblocking(False)
        self._sock = parent_sock
        self._ready = loop.create_future()
        self._reader_task = loop.create_task(self._read_loop(), name=f"llf-worker-{self.pid}")
        self._stderr_task = loop.create_task(self._stderr_loop(), name="llf-worker-stderr")
        try:
            await self._send(self.spec.init_message(os.getpid()))
            ready = await asyncio.wait_for(asyncio.shield(self._ready), timeout)
        except (TimeoutError, OSError, ConnectionError) as exc:
            await self.aclose()
            raise WorkerStartError(
                f"the sandbox worker for plugin {self.spec.plugin!r} did not start: "
                f"{type(exc).__name__} {exc}",
            ) from None
        if ready.get("ev") != "ready":
            await self.aclose()
            raise WorkerStartError(
                f"the sandbox worker for plugin {self.spec.plugin!r} failed to set up",
                traceback=str(ready.get("message", "")),
            )
        self.info = WorkerInfo(
            pid=int(ready.get("pid", 0)),
            layers=dict(ready.get("layers", {})),
            imports=dict(ready.get("imports", {})),
            python=str(ready.get("python", "")),
            start_ms=(time.perf_counter() - t0) * 1000,
        )
        return self.info

    @property
    def pid(self) -> int | None:
        """The worker's process id (as the host sees it)."""
        return self._proc.pid if self._proc else None

    async def aclose(self) -> None:
        """Kill running calls, stop the worker, remove its runtime folder."""
        if self._closed:
            return
        self._closed = True
        self._spares.accepting = False
        if self._sock is not None and self._reader_task and not self._reader_task.done():
            with contextlib.suppress(OSError, ConnectionError):
                await asyncio.wait_for(self._send({"op": "shutdown"}), 1.0)
        if self._proc is not None:
            await self._wait_process(2.0)
        for task in (self._reader_task, self._stderr_task):
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        if self._sock is not None:
            self._sock.close()
        for pending in self._calls.values():
            pending.finish(None)
        self._remove_leftovers()

    async def drain_and_close(self) -> None:
        """Refuse new calls, let running ones finish, then close (hot reload)."""
        self._closed_for_new = True
        self._spares.accepting = False
        await self._idle.wait()
        await self.aclose()

    @property
    def accepting(self) -> bool:
        """Whether new calls may be sent to this worker."""
        return self.alive and not self._closed_for_new

    async def _wait_process(self, timeout: float) -> None:
        proc = self._proc
        assert proc is not None
        deadline = time.monotonic() + timeout
        while proc.poll() is None and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        if proc.poll() is None:
            with contextlib.suppress(OSError):
                os.killpg(proc.pid, signal.SIGKILL)
            with contextlib.suppress(OSError):
                proc.kill()
            while proc.poll() is None:
                await asyncio.sleep(0.01)

    def _remove_leftovers(self) -> None:
        root = Path(self.spec.cgroup_root) if self.spec.cgroup_root else None
        if root is not None and root.is_dir():
            for entry in sorted(root.glob("s*"), reverse=True):
                with contextlib.suppress(OSError):
                    entry.rmdir()
            with contextlib.suppress(OSError):
                root.rmdir()
        shutil.rmtree(self.spec.runtime_dir, ignore_errors=True)

    # -- control channel ---------------------------------------------------------------
    async def _send(self, message: dict[str, Any]) -> None:
        sock = self._sock
        if sock is None:
            raise ConnectionError("worker is not running")
        loop = asyncio.get_running_loop()
        data = encode_frame(encode_json(message))
        async with self._send_lock:
            await loop.sock_sendall(sock, data)

    async def _read_loop(self) -> None:
        loop = asyncio.get_running_loop()
        sock = self._sock
        assert sock is not None
        readable = asyncio.Event()
        loop.add_reader(sock.fileno(), readable.set)
        try:
            while True:
                try:
                    data, ancdata, _flags, _addr = sock.recvmsg(
                        1 << 16, ControlReader.ancillary_size(), socket.MSG_CMSG_CLOEXEC
                    )
                except (BlockingIOError, InterruptedError):
                    readable.clear()
                    await readable.wait()
                    continue
                self._control.feed(data, ancdata)
                if not data:
                    break
                for message, fds in self._control.messages():
                    self._dispatch(message, fds)
        except (OSError, ValueError) as exc:
            log.warning("sandbox worker %s: control channel failed: %s", self.spec.plugin, exc)
        finally:
            loop.remove_reader(sock.fileno())
            self._control.close_pending()
            if self._ready is not None and not self._ready.done():
                self._ready.set_result({"ev": "died"})
            for pending in list(self._calls.values()):
                pending.finish(None)
            self._spares.close()

    def _dispatch(self, message: dict[str, Any], fds: list[int]) -> None:
        event = message.get("ev")
        if event == "spare" and fds:
            sock = socket.socket(fileno=fds[0])
            for fd in fds[1:]:
                os.close(fd)
            sock.setblocking(False)
            self._spares.arrived(key_from_wire(message["key"]), Spare(int(message["spare"]), sock))
            return
        for fd in fds:
            os.close(fd)
        if event in ("ready", "setup_failed"):
            if self._ready is not None and not self._ready.done():
                self._ready.set_result(message)
        elif event == "spare_failed":
            reason = str(message.get("message", "could not fork"))
            self._spares.failed(key_from_wire(message["key"]), reason)
        elif event == "exited":
            pending = self._calls.get(int(message.get("spare", -1)))
            if pending is not None:
                pending.finish(message)

    async def _stderr_loop(self) -> None:
        proc = self._proc
        assert proc is not None and proc.stderr is not None
        loop = asyncio.get_running_loop()
        fd = os.dup(proc.stderr.fileno())
        proc.stderr.close()  # the reader owns the duplicate; no file object left to GC
        reader = StreamReader(fd, loop, cap=1 << 62, keep=_STREAM_TAIL, on_overflow=lambda: None)
        try:
            await reader.eof
        finally:
            reader.close()
            text = reader.text().strip()
            if text:
                log.warning("sandbox worker %s wrote to stderr:\n%s", self.spec.plugin, text)

    # -- calls -------------------------------------------------------------------------
    async def call(
        self, ref: str, args: dict[str, Any], limits: Limits, *, tool: str = ""
    ) -> CallOutcome:
        """Run ``ref`` (a tool reference from the spec) with ``args`` under ``limits``."""
        if not self.alive:
            return CallOutcome(
                "crashed",
                message=f"the sandbox worker for plugin {self.spec.plugin!r} is not running",
                hint="it is restarted on the next call",
                detail={"reason": "worker_died"},
            )
        loop = asyncio.get_running_loop()
        started = time.perf_counter()
        child_limits = limits.for_child()
        key = spare_key(child_limits)
        pending = _Pending(loop)
        self._idle.clear()
        res_r, res_w = os.pipe2(os.O_CLOEXEC)
        out_r, out_w = os.pipe2(os.O_CLOEXEC)
        err_r, err_w = os.pipe2(os.O_CLOEXEC)
        spare_id = -1

        def kill(reason: str) -> None:
            if pending.killed_for is None:
                pending.killed_for = reason
            task = loop.create_task(self._signal(spare_id, signal.SIGKILL))
            self._background.add(task)
            task.add_done_callback(self._background.discard)

        cap = limits.output_kb * 1024
        frame = FrameReader(res_r, loop, cap=cap, on_overflow=lambda: kill("result"))
        out = StreamReader(
            out_r, loop, cap=cap, keep=_STREAM_TAIL, on_overflow=lambda: kill("stdout")
        )
        err = StreamReader(
            err_r, loop, cap=cap, keep=_STREAM_TAIL, on_overflow=lambda: kill("stderr")
        )
        readers = (frame, out, err)
        exited: dict[str, Any] | None = None
        try:
            try:
                spare_id = await self._start_in_spare(
                    key,
                    pending,
                    {"id": 0, "function": ref, "args": args, "limits": child_limits, "fds": 3},
                    (res_w, out_w, err_w),
                )
            finally:
                for fd in (res_w, out_w, err_w):
                    os.close(fd)
            if spare_id < 0:
                return CallOutcome(
                    "unavailable",
                    message=f"the sandbox could not start tool {tool or ref!r}: "
                    f"{self._spares.error(key) or 'the worker is not running'}",
                    hint="the system may be out of processes or memory; try again",
                    detail={"reason": "fork_failed"},
                )
            try:
                exited = await self._wait_exit(spare_id, pending, limits)
            except asyncio.CancelledError:
                pending.killed_for = pending.killed_for or "cancelled"
                await asyncio.shield(self._kill_and_wait(spare_id, pending))
                raise
            await self._drain(readers)
        except (OSError, ConnectionError):
            exited = None
        finally:
            for reader in readers:
                reader.close()
            self._calls.pop(spare_id, None)
            if not self._calls:
                self._idle.set()
        return self._outcome(tool or ref, pending, exited, frame, out, err, limits, started)

    async def _start_in_spare(
        self,
        key: Key,
        pending: _Pending,
        message: dict[str, Any],
        fds: tuple[int, int, int],
    ) -> int:
        """Hand the call to a spare; its id, or -1 when no spare could be had."""
        for _attempt in range(_HANDOVER_ATTEMPTS):
            spare = await self._spares.take(key)
            if spare is None:
                return -1
            message["id"] = spare.spare_id
            # Registered first: the exit can be reported before the send returns.
            self._calls[spare.spare_id] = pending
            try:
                await self._spares.hand_over(spare, encode_frame(encode_json(message)), fds)
            except OSError:
                # The spare died while waiting (killed from outside): take another.
                self._calls.pop(spare.spare_id, None)
                continue
            finally:
                spare.sock.close()
            await self._send({"op": "taken", "spare": spare.spare_id, "key": list(key)})
            return spare.spare_id
        return -1

    def _outcome(
        self,
        tool: str,
        pending: _Pending,
        exited: dict[str, Any] | None,
        frame: FrameReader,
        out: StreamReader,
        err: StreamReader,
        limits: Limits,
        started: float,
    ) -> CallOutcome:
        killed_for = pending.killed_for
        if killed_for in ("result", "cancelled"):
            killed_for = None
        outcome = interpret(
            tool=tool,
            frame=frame.frame(),
            status=None if exited is None else int(exited["status"]),
            cpu_s=0.0 if exited is None else float(exited.get("cpu_s", 0.0)),
            limits=limits,
            killed_for=killed_for,
            processes_limit_hit=bool(exited and exited.get("processes_limit_hit")),
            workdir_limit_hit=bool(exited and exited.get("workdir_limit_hit")),
        )
        if exited is not None:
            outcome.maxrss_kb = int(exited.get("maxrss_kb", 0))
            outcome.child_ms = float(exited.get("child_ms", 0.0))
        outcome.stdout = out.text()
        outcome.stderr = err.text()
        outcome.duration_ms = (time.perf_counter() - started) * 1000
        return outcome

    async def _wait_exit(
        self, spare_id: int, pending: _Pending, limits: Limits
    ) -> dict[str, Any] | None:
        try:
            return await asyncio.wait_for(asyncio.shield(pending.exited), limits.timeout_s)
        except TimeoutError:
            pass
        pending.killed_for = pending.killed_for or "timeout"
        await self._signal(spare_id, signal.SIGTERM)
        try:
            return await asyncio.wait_for(asyncio.shield(pending.exited), limits.grace_s)
        except TimeoutError:
            pass
        return await self._kill_and_wait(spare_id, pending)

    async def _kill_and_wait(self, spare_id: int, pending: _Pending) -> dict[str, Any] | None:
        await self._signal(spare_id, signal.SIGKILL)
        try:
            return await asyncio.wait_for(asyncio.shield(pending.exited), _KILL_WAIT_S)
        except TimeoutError:
            log.error(
                "sandbox worker %s did not report the end of a killed call; restarting it",
                self.spec.plugin,
            )
            await self.aclose()
            return None

    async def _signal(self, spare_id: int, signum: int) -> None:
        if spare_id < 0:
            return
        with contextlib.suppress(OSError, ConnectionError):
            await self._send({"op": "signal", "spare": spare_id, "signal": int(signum)})

    async def _drain(self, readers: tuple[FrameReader, StreamReader, StreamReader]) -> None:
        """Collect what the pipes still hold; every writer is normally gone by now."""
        pidns = bool(self.info and self.info.layers.get("pidns") is True)
        waiters = [r.eof for r in readers]
        await asyncio.wait(waiters, timeout=1.0 if pidns else 0.05)
        for reader in readers:
            reader.drain_now()
