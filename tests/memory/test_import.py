"""Reading import files: the old simple format, JSON Lines and this host's JSON export."""

from __future__ import annotations

import json
from collections.abc import Awaitable
from collections.abc import Callable
from pathlib import Path

import pytest

from llf_host import Host
from llf_host import MemoryStoreError
from llf_host._memory import memory_service
from llf_host._memory_import import import_conversations
from llf_host._memory_import import read_import_file

from .conftest import PLUGIN_DIR

MakeHost = Callable[..., Awaitable[Host]]

OLD_FORMAT = [
    {"role": "user", "content": "What's the tallest mountain?", "timestamp": 1_700_000_000},
    {"role": "assistant", "content": "Mount Everest.", "timestamp": "2023-11-14T22:13:25Z"},
    {"role": "human", "content": "And the deepest trench?", "timestamp": 1_700_000_100_000},
    {"role": "ai", "content": "The Mariana Trench.", "timestamp": 1_700_000_200, "mood": "ok"},
]


def write(path: Path, data: object) -> Path:
    path.write_text(json.dumps(data))
    return path


def test_old_json_array_is_one_linear_conversation(tmp_path: Path) -> None:
    (export,) = read_import_file(write(tmp_path / "geography.json", OLD_FORMAT))
    assert export.conversation.title == "geography"
    roles = [m.message.role for m in export.messages]
    assert roles == ["user", "assistant", "user", "assistant"]
    assert [m.created_at for m in export.messages] == [
        1_700_000_000.0,
        1_700_000_005.0,
        1_700_000_100.0,
        1_700_000_200.0,
    ]
    assert [m.parent_id for m in export.messages] == [None] + [m.id for m in export.messages[:-1]]
    assert export.messages[3].metadata == {"mood": "ok"}
    assert export.conversation.current_leaf_id == export.messages[-1].id


def test_jsonl_and_titled_objects(tmp_path: Path) -> None:
    lines = tmp_path / "chat.jsonl"
    lines.write_text("\n".join(json.dumps(m) for m in OLD_FORMAT) + "\n\n")
    (export,) = read_import_file(lines)
    assert len(export.messages) == 4 and export.conversation.title == "chat"
    titled = write(tmp_path / "t.json", {"title": "Mountains", "messages": OLD_FORMAT[:2]})
    (export,) = read_import_file(titled)
    assert export.conversation.title == "Mountains" and len(export.messages) == 2
    # A .json file that holds JSON Lines is read as lines too.
    sneaky = tmp_path / "lines.json"
    sneaky.write_text(lines.read_text())
    assert len(read_import_file(sneaky)[0].messages) == 4


def host_export() -> dict[str, object]:
    return {
        "format": "llf-host-export",
        "version": 1,
        "conversations": [
            {
                "conversation": {"id": "c1", "title": "branchy", "current_leaf_id": "b"},
                "messages": [
                    # Children before parents on purpose: the import reorders.
                    {"id": "b", "conversation_id": "c1", "parent_id": "r",
                     "message": {"role": "assistant", "content": "second answer"},
                     "model": "mock/echo", "usage": {"total_tokens": 7}, "created_at": 3.0},
                    {"id": "r", "conversation_id": "c1",
                     "message": {"role": "user", "content": "question"}, "created_at": 1.0},
                    {"id": "a", "conversation_id": "c1", "parent_id": "r",
                     "message": {"role": "assistant", "content": "first answer"}, "created_at": 2.0},
                ],
            }
        ],
    }  # fmt: skip


async def test_host_export_imports_with_its_tree(make_host: MakeHost, tmp_path: Path) -> None:
    host = await make_host(plugins=[PLUGIN_DIR])
    path = write(tmp_path / "backup.json", host_export())
    seen: list[int] = []
    (conv,) = await import_conversations(host, read_import_file(path), on_progress=seen.append)
    backend = await memory_service(host).backend()
    assert conv.title == "branchy" and conv.metadata["imported_from"] == "c1"
    history = await backend.history(conv.id)
    assert [m.message.content for m in history] == ["question", "second answer"]
    assert history[1].model == "mock/echo" and history[1].usage is not None
    assert len(await backend.branches(conv.id)) == 2
    assert seen[-1] == 3


async def test_the_brief_shape_without_format_is_accepted(
    make_host: MakeHost, tmp_path: Path
) -> None:
    doc = host_export()
    del doc["format"]
    host = await make_host(plugins=[PLUGIN_DIR])
    (conv,) = await import_conversations(host, read_import_file(write(tmp_path / "b.json", doc)))
    assert conv.message_count == 3


async def test_old_format_round_trip_through_search(make_host: MakeHost, tmp_path: Path) -> None:
    from llf_host import SearchQuery

    host = await make_host(plugins=[PLUGIN_DIR])
    exports = read_import_file(write(tmp_path / "old.json", OLD_FORMAT))
    (conv,) = await import_conversations(host, exports)
    backend = await memory_service(host).backend()
    (hit,) = await backend.search(SearchQuery("mariana"))
    assert hit.conversation_id == conv.id and hit.role == "assistant"
    assert hit.created_at == 1_700_000_200.0


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ('[{"role": "wizard", "content": "x"}]', "message 1: role 'wizard'"),
        ('[{"role": "user", "content": 5}]', "content must be text"),
        ('[{"role": "user", "timestamp": "yesterday"}]', "neither epoch seconds"),
        ("[1, 2]", "expected an object"),
        ('{"stuff": 1}', "not a recognised format"),
        ("{not json", "not valid JSON"),
        ('{"version": 9, "conversations": []}', "version 9 is not supported"),
        ('{"format": "other", "version": 1, "conversations": []}', "format"),
    ],
)
def test_bad_files_name_the_spot(tmp_path: Path, content: str, expected: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(MemoryStoreError) as info:
        read_import_file(path)
    assert expected in info.value.message
    assert info.value.hint


def test_bad_jsonl_line_is_named(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"role": "user", "content": "ok"}\n{oops\n')
    with pytest.raises(MemoryStoreError, match="line 2"):
        read_import_file(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(MemoryStoreError, match="cannot read"):
        read_import_file(tmp_path / "nope.json")
