"""Random sequences of tree operations against a simple model, for every backend.

Append (under the current leaf or any live message), edit, switch, delete,
restore and purge in any order must keep the tree consistent: the live
messages, their parents, the leaves, the current leaf, every leaf's history and
the trash all match a plain-Python model of the contract's rules.
"""

from __future__ import annotations

import asyncio
import itertools
import shutil
import tempfile
from collections.abc import Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from typing import TypeVar

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine
from hypothesis.stateful import invariant
from hypothesis.stateful import precondition
from hypothesis.stateful import rule

from llf_host import MemoryBackend
from llf_host import MemoryStoreError
from llf_host import Message
from llf_host.builtin_plugins.sqlite_memory.backend import SQLiteMemoryBackend
from llf_host.testing import InMemoryBackend

T = TypeVar("T")


@dataclass
class Node:
    parent: str | None
    content: str
    seq: int
    deleted_by: str | None = None


class TreeModel:
    """The contract's tree rules, written as plainly as possible."""

    def __init__(self) -> None:
        self.nodes: dict[str, Node] = {}
        self.current: str | None = None
        self._seq = itertools.count()

    def live(self) -> list[str]:
        return sorted(
            (i for i, n in self.nodes.items() if n.deleted_by is None),
            key=lambda i: self.nodes[i].seq,
        )

    def leaves(self) -> list[str]:
        live = self.live()
        parents = {self.nodes[i].parent for i in live}
        return [i for i in live if i not in parents]

    def path(self, leaf: str) -> list[str]:
        out: list[str] = []
        node: str | None = leaf
        while node is not None:
            out.append(node)
            node = self.nodes[node].parent
        return out[::-1]

    def add(self, new_id: str, parent: str | None, content: str) -> None:
        self.nodes[new_id] = Node(parent, content, next(self._seq))
        self.current = new_id

    def delete(self, root: str) -> None:
        group = {root}
        for node_id in self.live():
            if self.nodes[node_id].parent in group:
                group.add(node_id)
        for node_id in group:
            self.nodes[node_id].deleted_by = root
        if self.current in group:
            self.current = self.nodes[root].parent
            if self.current is None:
                leaves = self.leaves()
                self.current = leaves[-1] if leaves else None

    def groups(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for node in self.nodes.values():
            if node.deleted_by is not None:
                counts[node.deleted_by] = counts.get(node.deleted_by, 0) + 1
        return counts

    def restorable(self, root: str) -> bool:
        parent = self.nodes[root].parent
        return parent is None or self.nodes[parent].deleted_by is None

    def restore(self, root: str) -> None:
        for node in self.nodes.values():
            if node.deleted_by == root:
                node.deleted_by = None
        if self.current is None:
            leaves = self.leaves()
            self.current = leaves[-1] if leaves else None

    def purge(self) -> None:
        doomed = {i for i, n in self.nodes.items() if n.deleted_by is not None}
        for node_id in sorted(self.nodes, key=lambda i: self.nodes[i].seq):
            if self.nodes[node_id].parent in doomed:
                doomed.add(node_id)
        for node_id in doomed:
            del self.nodes[node_id]


contents = st.text(alphabet="abc xyz", min_size=0, max_size=12)


class TreeMachine(RuleBasedStateMachine):
    """Drives one backend and the model side by side."""

    def make_backend(self, folder: Path) -> MemoryBackend:
        raise NotImplementedError

    def __init__(self) -> None:
        super().__init__()
        self.folder = Path(tempfile.mkdtemp(prefix="llf-tree-"))
        self.loop = asyncio.new_event_loop()
        self.backend = self.make_backend(self.folder)
        self.run(self.backend.open())
        self.conv = self.run(self.backend.create_conversation("tree")).id
        self.model = TreeModel()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(coro)

    def teardown(self) -> None:
        self.run(self.backend.aclose())
        self.loop.close()
        shutil.rmtree(self.folder, ignore_errors=True)

    # -- operations ---------------------------------------------------------------
    @rule(content=contents)
    def append_to_current(self, content: str) -> None:
        stored = self.run(self.backend.append_message(self.conv, Message("user", content)))
        assert stored.parent_id == self.model.current
        self.model.add(stored.id, self.model.current, content)

    @precondition(lambda self: self.model.live())
    @rule(data=st.data(), content=contents)
    def append_under(self, data: st.DataObject, content: str) -> None:
        parent = data.draw(st.sampled_from(self.model.live()))
        stored = self.run(
            self.backend.append_message(self.conv, Message("assistant", content), parent_id=parent)
        )
        self.model.add(stored.id, parent, content)

    @precondition(lambda self: self.model.live())
    @rule(data=st.data(), content=contents)
    def edit(self, data: st.DataObject, content: str) -> None:
        target = data.draw(st.sampled_from(self.model.live()))
        stored = self.run(self.backend.edit_message(target, content))
        assert stored.metadata["edited_from"] == target
        self.model.add(stored.id, self.model.nodes[target].parent, content)

    @precondition(lambda self: self.model.live())
    @rule(data=st.data())
    def switch(self, data: st.DataObject) -> None:
        target = data.draw(st.sampled_from(self.model.live()))
        self.run(self.backend.switch_branch(self.conv, target))
        self.model.current = target

    @precondition(lambda self: self.model.live())
    @rule(data=st.data())
    def delete(self, data: st.DataObject) -> None:
        target = data.draw(st.sampled_from(self.model.live()))
        self.run(self.backend.delete("message", target))
        self.model.delete(target)

    @precondition(lambda self: self.model.groups())
    @rule(data=st.data())
    def restore(self, data: st.DataObject) -> None:
        root = data.draw(st.sampled_from(sorted(self.model.groups())))
        if self.model.restorable(root):
            self.run(self.backend.restore("message", root))
            self.model.restore(root)
        else:
            try:
                self.run(self.backend.restore("message", root))
            except MemoryStoreError:
                pass
            else:
                raise AssertionError(f"restored {root} while its parent is in the trash")

    @precondition(lambda self: self.model.groups())
    @rule()
    def purge(self) -> None:
        assert self.run(self.backend.purge()) == len(self.model.groups())
        self.model.purge()

    # -- checks -------------------------------------------------------------------
    @invariant()
    def tree_matches(self) -> None:
        tree = self.run(self.backend.tree(self.conv))
        assert [m.id for m in tree] == self.model.live()
        for message in tree:
            node = self.model.nodes[message.id]
            assert message.parent_id == node.parent
            assert message.message.content == node.content

    @invariant()
    def leaves_and_current_match(self) -> None:
        conv = self.run(self.backend.get_conversation(self.conv))
        assert conv.current_leaf_id == self.model.current
        assert conv.message_count == len(self.model.live())
        leaves = self.run(self.backend.branches(self.conv))
        assert [m.id for m in leaves] == self.model.leaves()

    @invariant()
    def every_history_matches(self) -> None:
        current = self.run(self.backend.history(self.conv))
        expected = self.model.path(self.model.current) if self.model.current else []
        assert [m.id for m in current] == expected
        for leaf in self.model.leaves():
            path = self.run(self.backend.history(self.conv, leaf))
            assert [m.id for m in path] == self.model.path(leaf)

    @invariant()
    def trash_matches(self) -> None:
        items = self.run(self.backend.list_trash())
        assert {i.id: i.count for i in items if i.kind == "message"} == self.model.groups()


class SQLiteTreeMachine(TreeMachine):
    def make_backend(self, folder: Path) -> MemoryBackend:
        return SQLiteMemoryBackend(folder / "memory.db")


class InMemoryTreeMachine(TreeMachine):
    def make_backend(self, folder: Path) -> MemoryBackend:
        return InMemoryBackend()


_settings = settings(max_examples=30, stateful_step_count=30)
TestSQLiteTree = SQLiteTreeMachine.TestCase
TestSQLiteTree.settings = _settings
TestInMemoryTree = InMemoryTreeMachine.TestCase
TestInMemoryTree.settings = _settings
