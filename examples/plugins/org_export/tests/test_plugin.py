"""org_export: headings, the current branch, escaping and options."""

from __future__ import annotations

from pathlib import Path

from llf_host import Conversation
from llf_host import ConversationExport
from llf_host import Message
from llf_host import StoredMessage

PLUGIN = Path(__file__).resolve().parents[1]


def sample() -> ConversationExport:
    def stored(mid, parent, role, text, model=None):
        return StoredMessage(
            id=mid,
            conversation_id="c1",
            parent_id=parent,
            message=Message(role=role, content=text),
            model=model,
            created_at=1_700_000_000.0,
        )

    return ConversationExport(
        conversation=Conversation(
            id="c1", title="Org\nnotes", current_leaf_id="m3", created_at=1_700_000_000.0
        ),
        messages=[
            stored("m1", None, "system", "Be brief"),
            stored("m2", "m1", "user", "List two things"),
            stored("m3", "m2", "assistant", "* one\n#+TITLE: two\n,* three", "ollama/llama3.2"),
            stored("m4", "m2", "assistant", "another branch"),
        ],
    )


async def exporter(make_host):
    host = await make_host(plugins=[PLUGIN])
    assert host.plugins["org_export"].status == "ok", host.plugins["org_export"].error
    return host.registry.exporter("org").obj


async def test_one_heading_per_conversation_and_message(make_host):
    text = (await (await exporter(make_host)).export([sample()], {})).decode()
    headings = [line for line in text.splitlines() if line.startswith("*")]
    assert headings == [
        "* Org notes",
        "** System",
        "** User",
        "** Assistant  :ollama_llama3_2:",
    ]
    assert ":ID: c1" in text and ":CREATED: [2023-11-14 Tue 22:13]" in text
    assert "another branch" not in text


async def test_lines_that_org_would_parse_are_escaped(make_host):
    text = (await (await exporter(make_host)).export([sample()], {})).decode()
    assert "#+begin_src markdown\n,* one\n,#+TITLE: two\n,,* three\n#+end_src" in text


async def test_options_leave_out_system_prompts_and_model_tags(make_host):
    org = await exporter(make_host)
    text = (await org.export([sample()], {"system": False, "models": "false"})).decode()
    assert "Be brief" not in text and "** Assistant\n" in text
