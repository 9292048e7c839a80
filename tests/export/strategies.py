"""Hypothesis strategies: arbitrary conversation trees, in the memory contract's shape."""

from __future__ import annotations

from hypothesis import strategies as st

from llf_host import Conversation
from llf_host import ConversationExport
from llf_host import FunctionCall
from llf_host import Message
from llf_host import StoredMessage
from llf_host import Timings
from llf_host import ToolCall
from llf_host import Usage

from .helpers import T0

#: Characters that mean something to Markdown, HTML or a table, plus line ends.
MARKUP = "#`*_[]<>|~&\\-+=.!:()1 \n\t\r>/\"'ab"

texts = st.one_of(
    st.text(max_size=60),
    st.text(alphabet=MARKUP, max_size=80),
    st.lists(
        st.sampled_from(
            [
                "# title",
                "```",
                "```python",
                "~~~",
                "    indented",
                "| a | b |",
                "|---|---|",
                "<script>alert(1)</script>",
                "<!-- c -->",
                "&amp;",
                "&#65;",
                "***",
                "---",
                "1. item",
                "- item",
                "> quote",
                "[link](http://x)",
                "![img](x.png)",
                "`code`",
                "a_b_c",
                "_em_",
                "**strong**",
                "\\",
                "setext",
                "===",
                "<http://x>",
                "\u00a0",
                "ünïcödé ☃ 𝄞",
                "",
                "\x00",
                "\x0b\x0c",
            ]
        ),
        max_size=8,
    ).map("\n".join),
)

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**53), 2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
metadata = st.dictionaries(
    st.text(max_size=10).filter(lambda k: k != "imported_from"), json_values, max_size=3
)

tool_calls = st.lists(
    st.builds(
        ToolCall,
        id=st.text(min_size=1, max_size=12),
        function=st.builds(FunctionCall, name=st.text(min_size=1, max_size=20), arguments=texts),
    ),
    min_size=1,
    max_size=3,
)
counts = st.none() | st.integers(0, 10**7)
usages = st.none() | st.builds(
    Usage, prompt_tokens=counts, completion_tokens=counts, total_tokens=counts
)
times_ms = st.none() | st.floats(0, 1e7, allow_nan=False)
timings = st.none() | st.builds(Timings, ttft_ms=times_ms, total_ms=times_ms)


@st.composite
def messages(draw: st.DrawFn, role: str) -> Message:
    content = draw(st.none() | texts) if role == "assistant" else draw(texts)
    calls = draw(st.none() | tool_calls) if role == "assistant" else None
    return Message(
        role=role,  # type: ignore[arg-type]
        content=content,
        name=draw(st.none() | st.text(min_size=1, max_size=10)),
        tool_calls=calls,
        tool_call_id=draw(st.text(min_size=1, max_size=10)) if role == "tool" else None,
        reasoning=draw(st.none() | texts) if role == "assistant" else None,
    )


@st.composite
def conversation_trees(draw: st.DrawFn, max_messages: int = 20) -> ConversationExport:
    """A conversation whose messages form arbitrary trees (several roots, deep chains)."""
    shape = draw(st.sampled_from(["random", "deep", "wide"]))
    count = draw(st.integers(0, 150 if shape == "deep" else max_messages))
    stored: list[StoredMessage] = []
    for index in range(count):
        if index == 0:
            parent = None
        elif shape == "deep":
            parent = stored[-1].id
        elif shape == "wide":
            parent = stored[0].id
        else:
            parent = draw(st.none() | st.sampled_from([m.id for m in stored]))
        role = draw(st.sampled_from(["system", "user", "assistant", "tool", "developer"]))
        stored.append(
            StoredMessage(
                id=f"m{index}",
                conversation_id="c",
                message=draw(messages(role)),
                parent_id=parent,
                model=draw(st.none() | st.text(min_size=1, max_size=15)),
                usage=draw(usages),
                timings=draw(timings),
                cost=draw(st.none() | st.floats(0, 100, allow_nan=False)),
                created_at=T0 + index + draw(st.floats(0, 0.999)),
                metadata=draw(metadata),
            )
        )
    leaf = draw(st.sampled_from([m.id for m in stored])) if stored else None
    conversation = Conversation(
        id="c",
        title=draw(texts),
        current_leaf_id=leaf,
        created_at=T0,
        updated_at=T0 + count + 1,
        message_count=count,
        metadata=draw(metadata),
    )
    return ConversationExport(conversation=conversation, messages=stored)
