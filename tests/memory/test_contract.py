"""The MemoryBackend contract, run against every backend (SQLite and in-memory).

What one backend does here, every backend must do: these tests are the
definition of the contract that ``_memory_contract.py`` describes.
"""

from __future__ import annotations

import time

import pytest

from llf_host import Conversation
from llf_host import ConversationExport
from llf_host import ConversationNotFoundError
from llf_host import FunctionCall
from llf_host import MemoryBackend
from llf_host import MemoryStoreError
from llf_host import Message
from llf_host import SearchQuery
from llf_host import StoredMessage
from llf_host import Timings
from llf_host import ToolCall
from llf_host import Usage


def user(text: str) -> Message:
    return Message(role="user", content=text)


def bot(text: str) -> Message:
    return Message(role="assistant", content=text)


def contents(messages: list[StoredMessage]) -> list[str | None]:
    return [m.message.content for m in messages]


def after(moment: float) -> None:
    """Wait until the wall clock has moved past ``moment`` (timestamps must differ)."""
    while time.time() <= moment:
        time.sleep(0.001)


# -- conversations ------------------------------------------------------------------------
async def test_create_get_and_list(backend: MemoryBackend) -> None:
    first = await backend.create_conversation("first", {"project": "x"})
    after(first.updated_at)
    second = await backend.create_conversation("second")
    got = await backend.get_conversation(first.id)
    assert (got.title, got.metadata, got.message_count) == ("first", {"project": "x"}, 0)
    assert got.current_leaf_id is None and got.created_at > 0
    listed = await backend.list_conversations()
    assert [c.id for c in listed] == [second.id, first.id]
    assert [c.id for c in await backend.list_conversations(limit=1, offset=1)] == [first.id]


async def test_unknown_ids_raise_not_found(backend: MemoryBackend) -> None:
    with pytest.raises(ConversationNotFoundError) as info:
        await backend.get_conversation("nope")
    assert info.value.hint and info.value.data["conversation_id"] == "nope"
    with pytest.raises(ConversationNotFoundError):
        await backend.get_message("nope")
    with pytest.raises(ConversationNotFoundError):
        await backend.append_message("nope", user("hi"))
    with pytest.raises(ConversationNotFoundError):
        await backend.get_memory("nope")


async def test_append_follows_the_current_leaf_and_keeps_every_field(
    backend: MemoryBackend,
) -> None:
    conv = await backend.create_conversation("c")
    question = await backend.append_message(conv.id, user("what is 2+2?"))
    call = Message(
        role="assistant",
        content=None,
        tool_calls=[ToolCall(id="call_1", function=FunctionCall("calc", '{"x": "2+2"}'))],
        reasoning="use the calculator",
    )
    answer = await backend.append_message(
        conv.id,
        call,
        model="mock/echo",
        usage=Usage(prompt_tokens=5, completion_tokens=3, total_tokens=8),
        timings=Timings(ttft_ms=12.5, total_ms=40.0),
        cost=0.0012,
        metadata={"provider": "mock"},
    )
    result = await backend.append_message(
        conv.id, Message(role="tool", content="4", tool_call_id="call_1", name="calc")
    )
    assert answer.parent_id == question.id and result.parent_id == answer.id
    stored = await backend.get_message(answer.id)
    assert stored.message == call
    assert stored.model == "mock/echo"
    assert stored.usage == Usage(prompt_tokens=5, completion_tokens=3, total_tokens=8)
    assert stored.timings == Timings(ttft_ms=12.5, total_ms=40.0)
    assert stored.cost == pytest.approx(0.0012)
    assert stored.metadata == {"provider": "mock"}
    assert stored.created_at >= question.created_at > 0
    assert (await backend.get_message(result.id)).message.tool_call_id == "call_1"
    conv = await backend.get_conversation(conv.id)
    assert conv.current_leaf_id == result.id and conv.message_count == 3
    assert [m.id for m in await backend.history(conv.id)] == [question.id, answer.id, result.id]


async def test_append_under_an_explicit_parent_branches(backend: MemoryBackend) -> None:
    conv = await backend.create_conversation()
    root = await backend.append_message(conv.id, user("root"))
    a = await backend.append_message(conv.id, bot("a"))
    b = await backend.append_message(conv.id, bot("b"), parent_id=root.id)
    assert b.parent_id == root.id
    assert (await backend.get_conversation(conv.id)).current_leaf_id == b.id
    assert contents(await backend.history(conv.id)) == ["root", "b"]
    assert contents(await backend.history(conv.id, a.id)) == ["root", "a"]
    assert [m.id for m in await backend.branches(conv.id)] == [a.id, b.id]


async def test_parent_must_be_a_live_message_of_the_same_conversation(
    backend: MemoryBackend,
) -> None:
    one = await backend.create_conversation()
    two = await backend.create_conversation()
    foreign = await backend.append_message(two.id, user("elsewhere"))
    with pytest.raises(ConversationNotFoundError):
        await backend.append_message(one.id, user("x"), parent_id=foreign.id)
    with pytest.raises(ConversationNotFoundError):
        await backend.append_message(one.id, user("x"), parent_id="missing")
    with pytest.raises(ConversationNotFoundError):
        await backend.switch_branch(one.id, foreign.id)
    with pytest.raises(ConversationNotFoundError):
        await backend.history(one.id, foreign.id)
    assert await backend.tree(one.id) == []


async def test_edit_adds_a_sibling_and_overwrites_nothing(backend: MemoryBackend) -> None:
    conv = await backend.create_conversation()
    q = await backend.append_message(conv.id, user("capital of Frnace?"))
    a = await backend.append_message(conv.id, bot("Did you mean France?"))
    edited = await backend.edit_message(q.id, "capital of France?", {"why": "typo"})
    assert edited.parent_id is None and edited.message.role == "user"
    assert edited.metadata == {"why": "typo", "edited_from": q.id}
    assert (await backend.get_message(q.id)).message.content == "capital of Frnace?"
    assert contents(await backend.history(conv.id)) == ["capital of France?"]
    assert contents(await backend.history(conv.id, a.id)) == [
        "capital of Frnace?",
        "Did you mean France?",
    ]
    paris = await backend.append_message(conv.id, bot("Paris"))
    assert paris.parent_id == edited.id
    assert [m.id for m in await backend.branches(conv.id)] == [a.id, paris.id]
    assert [m.id for m in await backend.tree(conv.id)] == [q.id, a.id, edited.id, paris.id]


async def test_switch_branch_moves_the_current_leaf(backend: MemoryBackend) -> None:
    conv = await backend.create_conversation()
    root = await backend.append_message(conv.id, user("root"))
    left = await backend.append_message(conv.id, bot("left"))
    right = await backend.edit_message(left.id, "right")
    switched = await backend.switch_branch(conv.id, left.id)
    assert isinstance(switched, Conversation) and switched.current_leaf_id == left.id
    assert contents(await backend.history(conv.id)) == ["root", "left"]
    # Switching to an inner message: the next append branches from there.
    await backend.switch_branch(conv.id, root.id)
    third = await backend.append_message(conv.id, bot("third"))
    assert third.parent_id == root.id
    assert {m.id for m in await backend.branches(conv.id)} == {left.id, right.id, third.id}


async def test_export_conversation_holds_the_whole_tree(backend: MemoryBackend) -> None:
    conv = await backend.create_conversation("exported")
    q = await backend.append_message(conv.id, user("q"))
    await backend.append_message(conv.id, bot("a1"))
    await backend.edit_message(q.id, "q2")
    export = await backend.export_conversation(conv.id)
    assert export.conversation.title == "exported"
    assert contents(export.messages) == ["q", "a1", "q2"]


# -- import -----------------------------------------------------------------------------
def _export_with_branches() -> ConversationExport:
    def stored(mid: str, parent: str | None, msg: Message, at: float) -> StoredMessage:
        return StoredMessage(
            id=mid, conversation_id="old", message=msg, parent_id=parent, created_at=at
        )

    return ConversationExport(
        Conversation(
            id="old",
            title="imported",
            current_leaf_id="m3",
            created_at=1_600_000_000.0,
            updated_at=1_600_000_300.0,
            metadata={"from": "backup"},
        ),
        [
            stored("m1", None, user("hello"), 1_600_000_000.0),
            stored("m2", "m1", bot("hi there"), 1_600_000_100.0),
            stored("m3", "m1", bot("hey"), 1_600_000_200.0),
        ],
    )


async def test_import_keeps_shape_leaf_and_timestamps_under_new_ids(
    backend: MemoryBackend,
) -> None:
    seen: list[int] = []
    conv = await backend.import_conversation(_export_with_branches(), on_progress=seen.append)
    assert conv.title == "imported" and conv.message_count == 3
    assert conv.metadata == {"from": "backup", "imported_from": "old"}
    assert conv.created_at == 1_600_000_000.0
    tree = await backend.tree(conv.id)
    ids = [m.id for m in tree]
    assert not {"m1", "m2", "m3"} & set(ids)
    assert [m.parent_id for m in tree] == [None, ids[0], ids[0]]
    assert [m.created_at for m in tree] == [1_600_000_000.0, 1_600_000_100.0, 1_600_000_200.0]
    assert conv.current_leaf_id == ids[2]
    assert contents(await backend.history(conv.id)) == ["hello", "hey"]
    assert seen and seen[-1] == 3
    # Importing twice makes two conversations.
    again = await backend.import_conversation(_export_with_branches())
    assert again.id != conv.id


async def test_import_is_all_or_nothing(backend: MemoryBackend) -> None:
    export = _export_with_branches()
    export.messages.append(
        StoredMessage(id="m4", conversation_id="old", message=bot("x"), parent_id="later")
    )
    with pytest.raises(MemoryStoreError) as info:
        await backend.import_conversation(export)
    assert "m4" in info.value.message
    assert await backend.list_conversations() == []


# -- memories ---------------------------------------------------------------------------
async def test_memories_add_get_list_by_tags(backend: MemoryBackend) -> None:
    dark = await backend.add_memory(
        "prefers dark mode", tags=["prefs", "ui", "prefs"], source="user", metadata={"n": 1}
    )
    tabs = await backend.add_memory("indents with tabs", tags=["prefs", "code"])
    assert dark.tags == ["prefs", "ui"]
    got = await backend.get_memory(dark.id)
    assert (got.content, got.source, got.metadata) == ("prefers dark mode", "user", {"n": 1})
    assert [m.id for m in await backend.list_memories()] == [tabs.id, dark.id]
    assert [m.id for m in await backend.list_memories(tags=["prefs"])] == [tabs.id, dark.id]
    assert [m.id for m in await backend.list_memories(tags=["prefs", "ui"])] == [dark.id]
    assert await backend.list_memories(tags=["nothing"]) == []
    assert [m.id for m in await backend.list_memories(limit=1, offset=1)] == [dark.id]


# -- search -----------------------------------------------------------------------------
async def _corpus(backend: MemoryBackend) -> dict[str, str]:
    conv = await backend.create_conversation("k8s")
    other = await backend.create_conversation("cooking")
    ids = {}
    for key, conv_id, message, model in [
        ("ingress", conv.id, user("How do I configure a Kubernetes ingress?"), None),
        ("answer", conv.id, bot("Create an Ingress resource; Kubernetes routes it."), "m/a"),
        ("pods", conv.id, user("Why do my pods restart?"), None),
        ("cafe", other.id, user("Best café recipes for crème brûlée"), None),
        ("soup", other.id, bot("Tomato soup needs basil, not kubernetes."), "m/b"),
    ]:
        ids[key] = (await backend.append_message(conv_id, message, model=model)).id
    ids["conv"] = conv.id
    ids["other"] = other.id
    ids["memory"] = (await backend.add_memory("the cluster uses kubernetes 1.30", tags=["ops"])).id
    return ids


async def hits(backend: MemoryBackend, text: str, **filters: object) -> list[str]:
    return [h.id for h in await backend.search(SearchQuery(text, **filters))]  # type: ignore[arg-type]


async def test_search_syntax(backend: MemoryBackend) -> None:
    ids = await _corpus(backend)
    assert set(await hits(backend, "kubernetes")) == {
        ids["ingress"],
        ids["answer"],
        ids["soup"],
        ids["memory"],
    }
    assert set(await hits(backend, "KUBERNETES ingress")) == {ids["ingress"], ids["answer"]}
    assert await hits(backend, '"configure a kubernetes"') == [ids["ingress"]]
    assert set(await hits(backend, "pod*")) == {ids["pods"]}
    assert set(await hits(backend, "pods OR basil")) == {ids["pods"], ids["soup"]}
    assert set(await hits(backend, "kubernetes -ingress -cluster")) == {ids["soup"]}
    assert await hits(backend, "cafe creme brulee") == [ids["cafe"]]
    assert await hits(backend, "ingress?") == await hits(backend, "ingress")
    assert await hits(backend, "!!! ...") == []
    assert await hits(backend, "-kubernetes") == []
    assert await hits(backend, "zebra") == []


async def test_search_filters(backend: MemoryBackend) -> None:
    ids = await _corpus(backend)
    assert set(await hits(backend, "kubernetes", conversation_id=ids["conv"])) == {
        ids["ingress"],
        ids["answer"],
    }
    assert set(await hits(backend, "kubernetes", role="assistant")) == {
        ids["answer"],
        ids["soup"],
    }
    assert await hits(backend, "kubernetes", model="m/b") == [ids["soup"]]
    assert await hits(backend, "kubernetes", tags=["ops"]) == [ids["memory"]]
    assert await hits(backend, "kubernetes", tags=["ops", "other"]) == []
    assert await hits(backend, "kubernetes", scope="memories") == [ids["memory"]]
    assert ids["memory"] not in await hits(backend, "kubernetes", scope="messages")
    # Filters that only apply to messages exclude memories, and the other way round.
    assert ids["memory"] not in await hits(backend, "kubernetes", role="user")


async def test_search_date_range(backend: MemoryBackend) -> None:
    conv = await backend.import_conversation(_export_with_branches())
    stamps = {m.message.content: m.id for m in await backend.tree(conv.id)}
    assert set(await hits(backend, "hi OR hey OR hello", since=1_600_000_100.0)) == {
        stamps["hey"],
        stamps["hi there"],
    }
    assert set(
        await hits(backend, "hi OR hey OR hello", since=1_600_000_000.0, until=1_600_000_200.0)
    ) == {stamps["hello"], stamps["hi there"]}
    assert await hits(backend, "hello", until=1_600_000_000.0) == []


async def test_snippets_highlight_matches(backend: MemoryBackend) -> None:
    ids = await _corpus(backend)
    (hit,) = await backend.search(SearchQuery('"kubernetes ingress"'))
    assert hit.id == ids["ingress"] and hit.kind == "message"
    assert "configure a [Kubernetes ingress]?" in hit.snippet
    (both,) = await backend.search(SearchQuery("configure ingress"))
    assert "[configure] a Kubernetes [ingress]" in both.snippet
    assert hit.conversation_id == ids["conv"] and hit.role == "user" and hit.created_at > 0
    (cafe,) = await backend.search(
        SearchQuery("creme", highlight_start="<b>", highlight_end="</b>")
    )
    assert "<b>crème</b>" in cafe.snippet
    (memory,) = await backend.search(SearchQuery("cluster"))
    assert memory.kind == "memory" and memory.tags == ["ops"]
    assert "[cluster]" in memory.snippet


async def test_snippets_of_long_texts_are_cut_around_the_match(backend: MemoryBackend) -> None:
    conv = await backend.create_conversation()
    words = [f"word{i}" for i in range(200)]
    words[150] = "needle"
    await backend.append_message(conv.id, user(" ".join(words)))
    (hit,) = await backend.search(SearchQuery("needle"))
    assert "[needle]" in hit.snippet
    assert hit.snippet.startswith("…") and hit.snippet.endswith("…")
    assert len(hit.snippet) < 300


async def test_search_ranks_denser_matches_first_and_pages(backend: MemoryBackend) -> None:
    conv = await backend.create_conversation()
    sparse = await backend.append_message(
        conv.id, user("rust appears once among a great many other unrelated words here")
    )
    dense = await backend.append_message(conv.id, user("rust rust rust"))
    found = await backend.search(SearchQuery("rust"))
    assert [h.id for h in found] == [dense.id, sparse.id]
    assert found[0].rank > found[1].rank
    assert [h.id for h in await backend.search(SearchQuery("rust", limit=1, offset=1))] == [
        sparse.id
    ]


# -- trash ------------------------------------------------------------------------------
async def test_deleted_conversation_goes_to_trash_and_comes_back(backend: MemoryBackend) -> None:
    conv = await backend.create_conversation("doomed")
    msg = await backend.append_message(conv.id, user("secret plan"))
    await backend.delete("conversation", conv.id)
    with pytest.raises(ConversationNotFoundError):
        await backend.get_conversation(conv.id)
    with pytest.raises(ConversationNotFoundError):
        await backend.get_message(msg.id)
    assert await backend.list_conversations() == []
    assert await hits(backend, "secret") == []
    (item,) = await backend.list_trash()
    assert (item.kind, item.id, item.title) == ("conversation", conv.id, "doomed")
    with pytest.raises(ConversationNotFoundError):
        await backend.delete("conversation", conv.id)
    await backend.restore("conversation", conv.id)
    assert (await backend.get_conversation(conv.id)).message_count == 1
    assert await hits(backend, "secret") == [msg.id]
    assert await backend.list_trash() == []
    with pytest.raises(ConversationNotFoundError):
        await backend.restore("conversation", conv.id)


async def test_deleting_a_message_trashes_its_branch_and_moves_the_leaf(
    backend: MemoryBackend,
) -> None:
    conv = await backend.create_conversation()
    root = await backend.append_message(conv.id, user("root"))
    mid = await backend.append_message(conv.id, bot("mid"))
    await backend.append_message(conv.id, user("leaf"))
    await backend.delete("message", mid.id)
    conv2 = await backend.get_conversation(conv.id)
    assert conv2.current_leaf_id == root.id and conv2.message_count == 1
    assert contents(await backend.tree(conv.id)) == ["root"]
    (item,) = await backend.list_trash()
    assert (item.kind, item.id, item.count, item.conversation_id) == (
        "message",
        mid.id,
        2,
        conv.id,
    )
    assert item.title == "mid"
    await backend.restore("message", mid.id)
    assert contents(await backend.tree(conv.id)) == ["root", "mid", "leaf"]
    assert (await backend.get_conversation(conv.id)).current_leaf_id == root.id


async def test_deleting_a_root_falls_back_to_the_latest_leaf(backend: MemoryBackend) -> None:
    conv = await backend.create_conversation()
    first = await backend.append_message(conv.id, user("first root"))
    second = await backend.edit_message(first.id, "second root")
    await backend.delete("message", second.id)
    assert (await backend.get_conversation(conv.id)).current_leaf_id == first.id
    await backend.delete("message", first.id)
    assert (await backend.get_conversation(conv.id)).current_leaf_id is None
    assert await backend.history(conv.id) == []
    await backend.restore("message", second.id)
    assert (await backend.get_conversation(conv.id)).current_leaf_id == second.id


async def test_branches_trashed_separately_are_restored_separately(
    backend: MemoryBackend,
) -> None:
    conv = await backend.create_conversation()
    root = await backend.append_message(conv.id, user("root"))
    a = await backend.append_message(conv.id, bot("a"))
    b = await backend.append_message(conv.id, user("b"))
    await backend.delete("message", b.id)
    await backend.delete("message", a.id)
    with pytest.raises(MemoryStoreError) as info:
        await backend.restore("message", b.id)
    assert info.value.data["blocked_by"] == a.id and info.value.hint
    await backend.restore("message", a.id)
    assert contents(await backend.tree(conv.id)) == ["root", "a"]
    await backend.restore("message", b.id)
    assert contents(await backend.tree(conv.id)) == ["root", "a", "b"]
    assert (await backend.get_conversation(conv.id)).current_leaf_id == root.id


async def test_message_restore_waits_for_its_conversation(backend: MemoryBackend) -> None:
    conv = await backend.create_conversation()
    msg = await backend.append_message(conv.id, user("x"))
    await backend.delete("message", msg.id)
    await backend.delete("conversation", conv.id)
    with pytest.raises(MemoryStoreError):
        await backend.restore("message", msg.id)
    assert {i.kind for i in await backend.list_trash()} == {"message", "conversation"}


async def test_memories_trash_and_restore(backend: MemoryBackend) -> None:
    item = await backend.add_memory("likes tea", tags=["prefs"])
    await backend.delete("memory", item.id)
    assert await backend.list_memories() == []
    assert await hits(backend, "tea") == []
    with pytest.raises(ConversationNotFoundError):
        await backend.get_memory(item.id)
    with pytest.raises(ConversationNotFoundError):
        await backend.delete("memory", item.id)
    (trashed,) = await backend.list_trash()
    assert (trashed.kind, trashed.title) == ("memory", "likes tea")
    await backend.restore("memory", item.id)
    assert await hits(backend, "tea") == [item.id]


async def test_trash_lists_newest_first_and_purge_respects_the_cutoff(
    backend: MemoryBackend,
) -> None:
    old = await backend.add_memory("old fact")
    await backend.delete("memory", old.id)
    (first,) = await backend.list_trash()
    after(first.deleted_at)
    cutoff = time.time()
    after(cutoff)
    conv = await backend.create_conversation("newer")
    await backend.delete("conversation", conv.id)
    assert [i.id for i in await backend.list_trash()] == [conv.id, old.id]
    assert await backend.purge(older_than=cutoff) == 1
    assert [i.id for i in await backend.list_trash()] == [conv.id]
    with pytest.raises(ConversationNotFoundError):
        await backend.restore("memory", old.id)
    assert await backend.purge() == 1
    assert await backend.list_trash() == []
    with pytest.raises(ConversationNotFoundError):
        await backend.restore("conversation", conv.id)
    assert await backend.purge() == 0


async def test_purging_a_branch_takes_branches_trashed_below_it(backend: MemoryBackend) -> None:
    conv = await backend.create_conversation()
    root = await backend.append_message(conv.id, user("root"))
    a = await backend.append_message(conv.id, bot("a"))
    b = await backend.append_message(conv.id, user("b"))
    await backend.delete("message", b.id)
    await backend.delete("message", a.id)
    assert len(await backend.list_trash()) == 2
    assert await backend.purge() == 2
    assert [m.id for m in await backend.tree(conv.id)] == [root.id]
    with pytest.raises(ConversationNotFoundError):
        await backend.restore("message", b.id)
