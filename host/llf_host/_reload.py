"""Hot reload: watch the plugin folders and reload what changed.

One :class:`PluginWatcher` watches every plugins directory with watchfiles.
Changes are debounced and grouped per plugin (the top-level entry of a plugins
directory: a folder or a single ``.py`` file), then each affected plugin is
reloaded as a unit, loaded when it is new, or unloaded when it disappeared.
See docs/plugins.md, "Hot reload", for the semantics plugin authors rely on.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING
from typing import final

from ._errors import LLMError

if TYPE_CHECKING:
    from ._host import Host

__all__ = ["PluginWatcher", "affected_entries"]

log = logging.getLogger("llf.reload")

_IGNORED_SUFFIXES = (".pyc", ".pyo", ".swp", ".swx", ".tmp", "~")
_IGNORED_PARTS = ("__pycache__", ".git", ".mypy_cache", ".pytest_cache", ".ruff_cache")


def _relevant(path: Path, root: Path) -> Path | None:
    """The top-level entry of ``root`` that ``path`` belongs to, if it matters."""
    try:
        rel = path.relative_to(root)
    except ValueError:
        return None
    if not rel.parts:
        return None
    if any(part in _IGNORED_PARTS for part in rel.parts):
        return None
    if rel.parts[0].startswith((".", "_")) or path.name.endswith(_IGNORED_SUFFIXES):
        return None
    if path.name.startswith(".#"):  # emacs lock files
        return None
    top = root / rel.parts[0]
    if len(rel.parts) == 1 and top.suffix != ".py" and not top.is_dir():
        # A plain file directly in the plugins dir that is not a plugin.
        return None
    return top


def affected_entries(
    changed: Iterable[str | Path], roots: Iterable[tuple[Path, str]]
) -> dict[Path, str]:
    """Group changed paths by plugin entry (folder or ``.py``) -> source label."""
    roots = list(roots)
    out: dict[Path, str] = {}
    for raw in changed:
        path = Path(raw)
        for root, source in roots:
            top = _relevant(path, root)
            if top is not None:
                out[top] = source
                break
    return out


@final
class PluginWatcher:
    """Watches plugin folders and applies changes to a running host."""

    def __init__(self, host: Host, *, debounce_ms: int = 50, step_ms: int = 25) -> None:
        self.host = host
        self.debounce_ms = debounce_ms
        self.step_ms = step_ms
        self._task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()
        #: Set once the OS-level watches are in place.
        self.ready = asyncio.Event()
        #: Number of change batches applied (for tests and metrics).
        self.batches = 0
        self.last_batch_ms = 0.0

    def roots(self) -> list[tuple[Path, str]]:
        """The plugin folders to watch (the user's is created, so drop-ins are seen)."""
        for path, source in self.host.plugin_dirs():
            if source == "user" and not path.exists():
                try:
                    self.host.paths.ensure(path)
                except OSError as exc:
                    log.warning("cannot create the plugins folder %s: %s", path, exc)
        return [(p.resolve(), s) for p, s in self.host.plugin_dirs() if p.is_dir()]

    def start(self) -> None:
        """Start watching in the background (on the running loop)."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name="llf-plugin-watcher"
            )

    async def _run(self) -> None:
        import watchfiles

        roots = self.roots()
        if not roots:
            log.info("no plugin folders to watch")
            self.ready.set()
            return
        log.debug("watching %s", ", ".join(str(r) for r, _ in roots))
        async for changes in watchfiles.awatch(
            *(r for r, _ in roots),
            debounce=self.debounce_ms,
            step=self.step_ms,
            stop_event=self._stop,
            recursive=True,
            rust_timeout=200,
            yield_on_timeout=True,
        ):
            # The first (possibly empty) yield means the OS watches are in place.
            self.ready.set()
            if not changes:
                continue
            started = time.perf_counter()
            entries = affected_entries((p for _, p in changes), roots)
            for entry, source in sorted(entries.items()):
                try:
                    await self.apply(entry, source)
                except LLMError as exc:
                    log.error("reloading %s failed: %s", entry, exc)
                except Exception:
                    log.exception("reloading %s crashed; the previous state stays", entry)
            self.batches += 1
            self.last_batch_ms = (time.perf_counter() - started) * 1000

    async def apply(self, entry: Path, source: str) -> None:
        """Reload, load or unload the plugin at ``entry``."""
        record = next(
            (
                r
                for r in self.host.plugins.values()
                if r.source != "entrypoint" and Path(r.location).resolve() == entry
            ),
            None,
        )
        exists = entry.exists()
        if record is not None and record.status == "disabled":
            return
        if record is not None and not exists:
            log.info("plugin %s removed", record.name)
            await self.host.unload_plugin(record.name)
        elif record is not None:
            log.info("plugin %s changed: reloading", record.name)
            await self.host.reload_plugin(record.name)
        elif exists:
            loaded = await self.host.load_new_plugin(entry, source)
            if loaded is not None:
                log.info("plugin %s added (%s)", loaded.name, loaded.status)

    async def aclose(self) -> None:
        """Stop watching."""
        self._stop.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(self._task, 2.0)
            except (TimeoutError, asyncio.CancelledError):
                self._task.cancel()
            self._task = None
