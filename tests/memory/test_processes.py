"""Real processes on one database file: two hosts writing at once, and a writer killed mid-way."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from llf_host.builtin_plugins.sqlite_memory.backend import SQLiteMemoryBackend
from llf_host.testing import home_environ

from .conftest import PLUGIN_DIR

HOST_WRITER = textwrap.dedent(
    """
    import asyncio, sys, time
    from pathlib import Path
    from llf_host import Message
    from llf_host._memory import memory_service
    from llf_host.testing import isolated_host

    home, plugin, db, name, count, barrier = sys.argv[1:7]
    config = {"plugins": {"sqlite_memory": {"path": db, "busy_timeout_ms": 20000}}}

    async def main():
        async with isolated_host(Path(home), plugins=[plugin], config=config) as host:
            Path(barrier, f"ready-{name}").touch()
            deadline = time.monotonic() + 30
            while len(list(Path(barrier).iterdir())) < 2:
                assert time.monotonic() < deadline, "the other writer never started"
                await asyncio.sleep(0.01)
            backend = await memory_service(host).backend()
            conv = await backend.create_conversation(name)
            for i in range(int(count)):
                await backend.append_message(conv.id, Message(role="user", content=f"{name} {i}"))
                if i % 10 == 0:
                    await backend.add_memory(f"{name} fact {i}", tags=[name])
            print(conv.id, flush=True)

    asyncio.run(main())
    """
)


def test_two_host_processes_write_the_same_file(tmp_path: Path) -> None:
    db = tmp_path / "shared" / "memory.db"
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    script = tmp_path / "writer.py"
    script.write_text(HOST_WRITER)
    count = 150
    procs = []
    for name in ("alpha", "beta"):
        home = tmp_path / f"home-{name}"
        home.mkdir()
        procs.append(
            subprocess.Popen(
                [
                    sys.executable,
                    str(script),
                    str(home),
                    str(PLUGIN_DIR),
                    str(db),
                    name,
                    str(count),
                    str(barrier),
                ],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=home_environ(home),
            )
        )
    conv_ids = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        conv_ids.append(out.strip())
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        for conv_id, name in zip(conv_ids, ("alpha", "beta"), strict=True):
            rows = conn.execute(
                "SELECT content FROM messages WHERE conversation_id = ? ORDER BY seq", (conv_id,)
            ).fetchall()
            assert [r[0] for r in rows] == [f"{name} {i}" for i in range(count)]
        assert conn.execute("SELECT COUNT(*) FROM memories").fetchone() == (2 * (count // 10),)
        # Each process's current leaf is its own last message.
        leaves = conn.execute("SELECT current_leaf_id FROM conversations").fetchall()
        assert len(leaves) == 2 and all(leaf[0] for leaf in leaves)
        assert conn.execute("SELECT COUNT(*) FROM schema_version").fetchone()[0] >= 3
    finally:
        conn.close()


CRASH_WRITER = textwrap.dedent(
    """
    import asyncio, sys
    from pathlib import Path
    from llf_host import Conversation, ConversationExport, Message, StoredMessage
    from llf_host.builtin_plugins.sqlite_memory.backend import SQLiteMemoryBackend

    async def main():
        backend = SQLiteMemoryBackend(Path(sys.argv[1]))
        await backend.open()
        conv = await backend.create_conversation("crash")
        i = 0
        while True:
            i += 1
            stored = await backend.append_message(
                conv.id, Message(role="user", content=f"message {i} " + "x" * (i % 97))
            )
            print("msg", stored.id, i, flush=True)
            if i % 25 == 0:
                export = ConversationExport(
                    Conversation(id=f"bulk{i}", title=f"bulk {i}"),
                    [
                        StoredMessage(id=str(n), conversation_id="", message=Message(
                            role="assistant", content=f"bulk {i} line {n}"),
                            parent_id=str(n - 1) if n else None)
                        for n in range(400)
                    ],
                )
                done = await backend.import_conversation(export)
                print("conv", done.id, i, flush=True)

    asyncio.run(main())
    """
)


def test_a_killed_writer_loses_nothing_it_committed(tmp_path: Path) -> None:
    db = tmp_path / "memory.db"
    script = tmp_path / "crash.py"
    script.write_text(CRASH_WRITER)
    proc = subprocess.Popen(
        [sys.executable, str(script), str(db)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    committed: list[tuple[str, str, int]] = []
    deadline = time.monotonic() + 60
    try:
        assert proc.stdout is not None
        while len(committed) < 400:
            assert time.monotonic() < deadline, "the writer did not make progress"
            line = proc.stdout.readline()
            assert line, proc.stderr.read() if proc.stderr else "writer exited"
            kind, item_id, number = line.split()
            committed.append((kind, item_id, int(number)))
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        if proc.stdout:
            proc.stdout.close()
        if proc.stderr:
            proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        conn.execute("INSERT INTO messages_fts(messages_fts) VALUES ('integrity-check')")
        assert conn.execute("SELECT COUNT(*) FROM fts_deferred").fetchone() == (0,)
        for kind, item_id, number in committed:
            if kind == "msg":
                row = conn.execute("SELECT content FROM messages WHERE id = ?", (item_id,))
                assert row.fetchone() == (f"message {number} " + "x" * (number % 97),)
            else:
                count = conn.execute(
                    "SELECT COUNT(*) FROM messages WHERE conversation_id = ?", (item_id,)
                ).fetchone()[0]
                assert count == 400
        # A bulk import cut off mid-transaction left nothing half-written.
        for (conv_id,) in conn.execute("SELECT id FROM conversations WHERE title LIKE 'bulk%'"):
            count = conn.execute(
                "SELECT COUNT(*) FROM messages WHERE conversation_id = ?", (conv_id,)
            ).fetchone()[0]
            assert count == 400
    finally:
        conn.close()


async def test_the_reopened_database_works_after_a_kill(tmp_path: Path) -> None:
    db = tmp_path / "memory.db"
    script = tmp_path / "crash.py"
    script.write_text(CRASH_WRITER)
    proc = subprocess.Popen(
        [sys.executable, str(script), str(db)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    messages = 0
    while messages < 30:
        line = proc.stdout.readline()
        assert line
        messages += line.startswith("msg ")
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    proc.stdout.close()
    backend = SQLiteMemoryBackend(db)
    await backend.open()
    try:
        (conv,) = [c for c in await backend.list_conversations() if c.title == "crash"]
        history = await backend.history(conv.id)
        assert len(history) >= 30
        assert [m.message.content.split()[1] for m in history[:3]] == ["1", "2", "3"]  # type: ignore[union-attr]
    finally:
        await backend.aclose()
