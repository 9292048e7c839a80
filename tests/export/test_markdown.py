"""Markdown export: message text can never change the document's structure.

The check parses the export with markdown-it (CommonMark plus GFM tables) and
compares what a renderer would show with what was written.
"""

from __future__ import annotations

import importlib

import pytest
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt
from markdown_it.token import Token

from llf_host import Conversation
from llf_host import ConversationExport

from .helpers import export_sync
from .helpers import load_exporters
from .helpers import msg
from .helpers import sample
from .strategies import conversation_trees
from .strategies import texts

# The exporter's own splitter says which parts of a message are code blocks (a
# pure module of the plugin, importable through the package data).
blocks = importlib.import_module("llf_host.builtin_plugins.exporters.blocks")

#: Block and inline elements that message text must never produce.
FORBIDDEN = {
    "html_block",
    "html_inline",
    "table_open",
    "link_open",
    "image",
    "em_open",
    "strong_open",
    "code_inline",
    "bullet_list_open",
    "ordered_list_open",
    "blockquote_open",
    "hr",
    "code_block",
    "s_open",
}


@pytest.fixture(scope="module")
def markdown_exporter():
    return load_exporters()["md"]


def parse(text: str) -> list[Token]:
    return MarkdownIt("commonmark").enable("table").enable("strikethrough").parse(text)


def norm(text: str) -> str:
    """What survives rendering: words, in order (whitespace and NUL normalised)."""
    return " ".join(text.replace("\x00", "\ufffd").split())


def sections(tokens: list[Token]) -> list[list[Token]]:
    """The tokens under each level-2 heading (one per message)."""
    out: list[list[Token]] = []
    current: list[Token] | None = None
    for token in tokens:
        if token.type == "heading_open" and token.tag == "h2":
            current = []
            out.append(current)
        elif token.type == "hr" and current is not None:
            current = None
        elif current is not None:
            current.append(token)
    return out


def rendered_text(tokens: list[Token]) -> tuple[str, list[str]]:
    """Inline text (after the heading) and fenced code contents of one section."""
    words: list[str] = []
    fences: list[str] = []
    skip_heading = True
    for token in tokens:
        if token.type == "heading_close":
            skip_heading = False
            continue
        if skip_heading:
            continue
        if token.type == "fence":
            fences.append(token.content)
        elif token.type == "inline":
            for child in token.children or []:
                if child.type in ("text", "code_inline"):
                    words.append(child.content)
                elif child.type in ("softbreak", "hardbreak"):
                    words.append(" ")
            words.append(" ")
    return "".join(words), fences


def single(content: str, title: str = "t") -> ConversationExport:
    return ConversationExport(
        Conversation(id="c1", title=title, current_leaf_id="m1"),
        [msg("m1", "user", content)],
    )


@settings(max_examples=300)
@given(content=texts, title=texts)
def test_message_text_never_changes_the_structure(markdown_exporter, content, title):
    text = export_sync(markdown_exporter, [single(content, title)], include_timestamps=False)
    tokens = parse(text.decode("utf-8"))
    headings = [t.tag for t in tokens if t.type == "heading_open"]
    assert headings == ["h1", "h2"], text
    title_inline = tokens[1]
    assert {c.type for c in title_inline.children or []} <= {"text"}, text
    shown = "".join(c.content for c in title_inline.children or [])
    assert norm(shown) == (norm(title.replace("\x00", "\ufffd")) or "Conversation c1"), text

    (section,) = sections(tokens)
    flat = section + [c for t in section for c in (t.children or [])]
    assert not FORBIDDEN & {t.type for t in flat}, text
    prose, fences = rendered_text(section)
    segments = blocks.split_blocks(content)
    expected_prose = " ".join(seg.text for seg in segments if isinstance(seg, blocks.Prose))
    expected_code = [
        (seg.text + "\n" if seg.text else "").replace("\x00", "\ufffd")
        for seg in segments
        if isinstance(seg, blocks.Code)
    ]
    assert norm(prose) == norm(expected_prose), text
    assert fences == expected_code, text


@settings(max_examples=60)
@given(tree=conversation_trees(), branch=st.sampled_from(["current", "all"]))
def test_every_message_gets_exactly_one_heading(markdown_exporter, tree, branch):
    text = export_sync(markdown_exporter, [tree], branch=branch).decode("utf-8")
    tokens = parse(text)
    expected = len(tree.messages) if branch == "all" else len(current_path(tree))
    assert [t.tag for t in tokens if t.type == "heading_open"] == ["h1"] + ["h2"] * expected
    assert not {"html_block", "html_inline", "table_open"} & {
        t.type for t in tokens + [c for t in tokens for c in t.children or []]
    }


def current_path(tree: ConversationExport) -> list[str]:
    by_id = {m.id: m for m in tree.messages}
    path, node = [], tree.conversation.current_leaf_id
    while node is not None:
        path.append(node)
        node = by_id[node].parent_id
    return path


def test_code_blocks_are_refenced_longer_than_their_backticks(markdown_exporter):
    content = "look:\n```js\nconst s = `a ```` b`;\n```\ndone"
    text = export_sync(markdown_exporter, [single(content)]).decode("utf-8")
    assert "`````js\nconst s = `a ```` b`;\n`````" in text
    fences = [t for t in parse(text) if t.type == "fence"]
    assert [(f.info, f.content) for f in fences] == [("js", "const s = `a ```` b`;\n")]


def test_an_unclosed_fence_stays_inside_its_message(markdown_exporter):
    first = msg("m1", "user", "```\nnever closed")
    second = msg("m2", "assistant", "# after", parent="m1")
    tree = ConversationExport(
        Conversation(id="c1", title="t", current_leaf_id="m2"), [first, second]
    )
    tokens = parse(export_sync(markdown_exporter, [tree]).decode("utf-8"))
    assert [t.tag for t in tokens if t.type == "heading_open"] == ["h1", "h2", "h2"]
    assert [t.content for t in tokens if t.type == "fence"] == ["never closed\n"]


def test_sample_reads_well(markdown_exporter):
    text = export_sync(markdown_exporter, [sample()], branch="all").decode("utf-8")
    assert text.startswith("# Weather & \\<friends>\n")
    assert "## 2 · user · 2024-05-01 10:40:01 UTC" in text
    assert "\\# Not a heading\\\n\\<script>" in text
    assert "**Tool call** get_weather (call_1)" in text
    assert '```json\n{\n  "city": "Paris"\n}\n```' in text
    assert "*12 prompt + 3 completion tokens, 1.2 s, $0.0004*" in text
    assert "## 6 · assistant · 2024-05-01 10:40:05 UTC · reply to 2" in text
    assert "metadata" not in text.lower()  # readable formats leave metadata out by default
