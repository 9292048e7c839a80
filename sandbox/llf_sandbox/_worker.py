"""The host side of one warm worker: start it, send calls, collect outcomes.

Standard library and asyncio only (no ``llf_host``). The worker process is
spawned with ``python -I -S`` (no site-packages, no user environment, no
``.pth`` hooks), a scrubbed environment, only its control socket as an open
fd, and its own session. Because it is a fresh ``exec``, nothing of the host's
memory (decrypted keys included) is inherited.

One :class:`Worker` serves any number of concurrent calls. A call:

1. three pipes are created here (result, stdout, stderr); their write ends go
   to the worker with the ``call`` message and are closed here;
2. the pipes are read concurrently, each with a cap (overflow kills the call);
3. the call ends when the worker reports the process exit (a pidfd there), not
   on pipe EOF: a grandchild could hold a pipe open forever;
4. on timeout: SIGTERM, ``grace_s``, SIGKILL; on cancellation: SIGKILL.
"""

from __future__ import annotations

import array
import asyncio
import contextlib
import dataclasses
import itertools
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
from ._spec import WorkerSpec
from ._spec import child_environment
from ._wire import ControlReader
from ._wire import encode_frame
from ._wire import encode_json

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

    _ids = itertools.count(1)

    def __init__(self, spec: WorkerSpec) -> None:
        self.spec = spec
        self.info: WorkerInfo | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._sock: socket.socket | None = None
        self._reader_task: asyncio.Task[None] | None = None
        self._stderr_task: asyncio.Task[None] | None = None
        self._ready: asyncio.Future[dict[str, Any]] | None = None
        self._calls: dict[int, _Pending] = {}
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
    async def _send(self, message: dict[str, Any], fds: tuple[int, ...] = ()) -> None:
        sock = self._sock
        if sock is None:
            raise ConnectionError("worker is not running")
        loop = asyncio.get_running_loop()
        data = encode_frame(encode_json(message))
        async with self._send_lock:
            if fds:
                ancillary = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds))]
                while True:
                    try:
                        sent = sock.sendmsg([data], ancillary)
                        break
                    except BlockingIOError:
                        await self._writable(sock)
                data = data[sent:]
            if data:
                await loop.sock_sendall(sock, data)

    @staticmethod
    async def _writable(sock: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()

        def ready() -> None:
            if not fut.done():
                fut.set_result(None)

        loop.add_writer(sock.fileno(), ready)
        try:
            await fut
        finally:
            loop.remove_writer(sock.fileno())

    async def _read_loop(self) -> None:
        loop = asyncio.get_running_loop()
        reader = ControlReader()
        sock = self._sock
        assert sock is not None
        try:
            while True:
                data = await loop.sock_recv(sock, 1 << 16)
                if not data:
                    break
                reader.feed(data, [])
                for message, _fds in reader.messages():
                    self._dispatch(message)
        except (OSError, ValueError) as exc:
            log.warning("sandbox worker %s: control channel failed: %s", self.spec.plugin, exc)
        finally:
            if self._ready is not None and not self._ready.done():
                self._ready.set_result({"ev": "died"})
            for pending in list(self._calls.values()):
                pending.finish(None)

    def _dispatch(self, message: dict[str, Any]) -> None:
        event = message.get("ev")
        if event in ("ready", "setup_failed"):
            if self._ready is not None and not self._ready.done():
                self._ready.set_result(message)
            return
        pending = self._calls.get(int(message.get("id", -1)))
        if pending is None:
            return
        if event in ("exited", "failed"):
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
        call_id = next(self._ids)
        pending = _Pending(loop)
        self._calls[call_id] = pending
        self._idle.clear()
        started = time.perf_counter()
        res_r, res_w = os.pipe2(os.O_CLOEXEC)
        out_r, out_w = os.pipe2(os.O_CLOEXEC)
        err_r, err_w = os.pipe2(os.O_CLOEXEC)

        def kill(reason: str) -> None:
            if pending.killed_for is None:
                pending.killed_for = reason
            task = loop.create_task(self._signal(call_id, signal.SIGKILL))
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
        try:
            try:
                await self._send(
                    {
                        "op": "call",
                        "id": call_id,
                        "function": ref,
                        "args": args,
                        "limits": limits.for_child(),
                        "fds": 3,
                    },
                    (res_w, out_w, err_w),
                )
            finally:
                for fd in (res_w, out_w, err_w):
                    os.close(fd)
            try:
                exited = await self._wait_exit(call_id, pending, limits)
            except asyncio.CancelledError:
                pending.killed_for = pending.killed_for or "cancelled"
                await asyncio.shield(self._kill_and_wait(call_id, pending))
                raise
            await self._drain(readers)
        except (OSError, ConnectionError):
            exited = None
        finally:
            for reader in readers:
                reader.close()
            self._calls.pop(call_id, None)
            if not self._calls:
                self._idle.set()
        return self._outcome(tool or ref, pending, exited, frame, out, err, limits, started)

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
        if exited is not None and exited.get("ev") == "failed":
            outcome = CallOutcome(
                "unavailable",
                message=f"the sandbox could not start tool {tool!r}: {exited.get('message')}",
                hint="the system may be out of processes or memory; try again",
                detail={"reason": "fork_failed"},
            )
        else:
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
        self, call_id: int, pending: _Pending, limits: Limits
    ) -> dict[str, Any] | None:
        try:
            return await asyncio.wait_for(asyncio.shield(pending.exited), limits.timeout_s)
        except TimeoutError:
            pass
        pending.killed_for = pending.killed_for or "timeout"
        await self._signal(call_id, signal.SIGTERM)
        try:
            return await asyncio.wait_for(asyncio.shield(pending.exited), limits.grace_s)
        except TimeoutError:
            pass
        return await self._kill_and_wait(call_id, pending)

    async def _kill_and_wait(self, call_id: int, pending: _Pending) -> dict[str, Any] | None:
        await self._signal(call_id, signal.SIGKILL)
        try:
            return await asyncio.wait_for(asyncio.shield(pending.exited), _KILL_WAIT_S)
        except TimeoutError:
            log.error(
                "sandbox worker %s did not report the end of a killed call; restarting it",
                self.spec.plugin,
            )
            await self.aclose()
            return None

    async def _signal(self, call_id: int, signum: int) -> None:
        with contextlib.suppress(OSError, ConnectionError):
            await self._send({"op": "signal", "id": call_id, "signal": int(signum)})

    async def _drain(self, readers: tuple[FrameReader, StreamReader, StreamReader]) -> None:
        """Collect what the pipes still hold; every writer is normally gone by now."""
        pidns = bool(self.info and self.info.layers.get("pidns") is True)
        waiters = [r.eof for r in readers]
        await asyncio.wait(waiters, timeout=1.0 if pidns else 0.05)
        for reader in readers:
            reader.drain_now()
