"""Export options: branch, date range, roles, fields, and clear errors for bad ones."""

from __future__ import annotations

import json

import pytest

from llf_host import ConfigError

from .helpers import T0
from .helpers import export_sync
from .helpers import load_exporters
from .helpers import sample


@pytest.fixture(scope="module")
def exporters():
    return load_exporters()


def exported(exporters, **options) -> dict:
    document = json.loads(export_sync(exporters["json"], [sample()], **options))
    (item,) = document["conversations"] or [None]
    return item


def ids(item) -> list[str]:
    return [m["id"] for m in item["messages"]]


def parents(item) -> dict[str, str | None]:
    return {m["id"]: m.get("parent_id") for m in item["messages"]}


def test_json_keeps_everything_by_default(exporters):
    item = exported(exporters)
    assert ids(item) == ["m1", "m2", "m3", "m4", "m5", "m6"]
    assert item["conversation"]["metadata"] == {"project": "demo"}
    assert item["messages"][1]["metadata"] == {"client": "test"}


def test_current_branch_is_the_path_to_the_current_leaf(exporters):
    assert ids(exported(exporters, branch="current")) == ["m1", "m2", "m3", "m4", "m5"]
    text = export_sync(exporters["txt"], [sample()]).decode()
    assert "another branch" not in text  # readable formats default to the current branch
    assert "another branch" in export_sync(exporters["txt"], [sample()], branch="all").decode()


def test_leaving_out_system_prompts_reparents_the_rest(exporters):
    item = exported(exporters, include_system=False)
    assert "m1" not in ids(item)
    assert parents(item)["m2"] is None


def test_leaving_out_tool_calls_drops_calls_and_results(exporters):
    item = exported(exporters, include_tool_calls=False)
    # m3 only held a tool call, m4 was its result: both go, m5 now answers m2.
    assert ids(item) == ["m1", "m2", "m5", "m6"]
    assert parents(item)["m5"] == "m2"
    assert item["conversation"]["current_leaf_id"] == "m5"
    md = export_sync(exporters["md"], [sample()], include_tool_calls=False).decode()
    assert "get_weather" not in md and "temp_c" not in md


def test_date_range_keeps_only_messages_inside_it(exporters):
    item = exported(exporters, since=T0 + 2, until=T0 + 4)
    assert ids(item) == ["m3", "m4", "m5"]
    assert parents(item)["m3"] is None
    assert exported(exporters, since="2030-01-01") is None  # nothing left: no conversation
    whole_day = exported(exporters, since="2024-05-01", until="2024-05-01")
    assert len(ids(whole_day)) == 6


def test_leaf_outside_the_range_moves_to_the_nearest_kept_ancestor(exporters):
    item = exported(exporters, until=T0 + 2.5)
    assert item["conversation"]["current_leaf_id"] == "m3"


def test_timestamps_and_metadata_can_be_left_out(exporters):
    item = exported(exporters, include_timestamps=False, include_metadata=False)
    assert all("created_at" not in m for m in item["messages"])
    assert "created_at" not in item["conversation"]
    assert "metadata" not in item["conversation"]
    md = export_sync(exporters["md"], [sample()], include_timestamps=False).decode()
    assert "2024" not in md
    with_meta = export_sync(exporters["md"], [sample()], include_metadata=True).decode()
    assert '"client": "test"' in with_meta


@pytest.mark.parametrize(
    ("options", "option"),
    [
        ({"include_sytem": False}, "include_sytem"),
        ({"branch": "left"}, "branch"),
        ({"since": "yesterday-ish"}, "since"),
        ({"since": "2024-05-02", "until": "2024-05-01"}, "since"),
        ({"indent": 99}, "indent"),
    ],
)
def test_bad_options_name_the_option(exporters, options, option):
    with pytest.raises(ConfigError) as info:
        export_sync(exporters["md"], [sample()], **options)
    assert info.value.data["option"] == option
    assert info.value.hint
