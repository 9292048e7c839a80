"""The built-in memory backend plugin: SQLite (aiosqlite), one file per user.

Settings (all optional) in ``[plugins.sqlite_memory]``::

    path = "~/notes/llf-memory.db"   # default: memory.db in this plugin's data folder
    busy_timeout_ms = 5000           # wait this long for another process's write lock
    synchronous = "normal"           # "full" also survives power loss (slower)
"""

from __future__ import annotations

from pathlib import Path

from llf_host import MemoryBackend
from llf_host import PluginContext
from llf_host import hookimpl

from .backend import SQLiteMemoryBackend

#: The database file name inside the plugin's data folder.
DEFAULT_FILE = "memory.db"


def backend_from_config(context: PluginContext) -> SQLiteMemoryBackend:
    """Build the backend from the plugin's (already validated) config section."""
    config = context.config
    raw = config.get("path")
    path = Path(raw).expanduser() if raw else context.data_dir / DEFAULT_FILE
    return SQLiteMemoryBackend(
        path,
        busy_timeout_ms=int(config.get("busy_timeout_ms", 5000)),
        synchronous=config.get("synchronous", "normal"),
    )


@hookimpl
def llf_memory_backends(context: PluginContext) -> MemoryBackend:
    """Contribute the ``sqlite`` memory backend (opened by the host on first use)."""
    return backend_from_config(context)
