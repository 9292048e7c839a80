"""The Org mode exporter: one top-level heading per conversation, one sub-heading per message.

The current branch of each conversation is exported, root first. Message text
goes into ``#+begin_src markdown`` blocks (models write Markdown), escaped the
way Org escapes code: a comma before any line that starts with ``*`` or ``#+``
(after optional commas), so a line like ``* not a heading`` stays text.

Options (``--option key=value`` on the command line, ``options`` over the
protocol): ``system`` (default true) includes system prompts; ``models``
(default true) tags assistant headings with the model that wrote them.
"""

from __future__ import annotations

import re
from datetime import UTC
from datetime import datetime
from typing import Any

from llf_host import ConversationExport
from llf_host import Exporter
from llf_host import StoredMessage

_NEEDS_ESCAPE = re.compile(r"^(\s*)(,*(?:\*|#\+))", re.MULTILINE)
_TAG_UNSAFE = re.compile(r"[^\w@#%]")


def escape_block(text: str) -> str:
    """Org's escaping of text inside a source block (see the module docstring)."""
    return _NEEDS_ESCAPE.sub(r"\1,\2", text)


def _heading_text(text: str) -> str:
    return " ".join(text.split()) or "(untitled)"


def _timestamp(epoch: float) -> str:
    when = datetime.fromtimestamp(epoch, UTC)
    return when.strftime("[%Y-%m-%d %a %H:%M]")


def current_branch(conversation: ConversationExport) -> list[StoredMessage]:
    """The messages from the root to the current leaf."""
    by_id = {m.id: m for m in conversation.messages}
    branch: list[StoredMessage] = []
    leaf = conversation.conversation.current_leaf_id
    while leaf is not None and leaf in by_id:
        branch.append(by_id[leaf])
        leaf = by_id[leaf].parent_id
    return branch[::-1]


def _flag(options: dict[str, Any], name: str) -> bool:
    value = options.get(name, True)
    return value if isinstance(value, bool) else str(value).lower() not in {"0", "false", "no"}


class OrgExporter(Exporter):
    format = "org"
    extension = "org"
    media_type = "text/org"
    description = "Emacs Org mode: a heading per conversation and per message"

    async def export(
        self, conversations: list[ConversationExport], options: dict[str, Any]
    ) -> bytes:
        lines = ["#+TITLE: Conversations", "#+STARTUP: overview", ""]
        for conversation in conversations:
            lines.extend(self._conversation(conversation, options))
        return "\n".join(lines).encode("utf-8")

    def _conversation(self, conversation: ConversationExport, options: dict[str, Any]) -> list[str]:
        conv = conversation.conversation
        lines = [
            f"* {_heading_text(conv.title)}",
            ":PROPERTIES:",
            f":ID: {conv.id}",
        ]
        if conv.created_at:
            lines.append(f":CREATED: {_timestamp(conv.created_at)}")
        lines += [":END:", ""]
        for stored in current_branch(conversation):
            role = stored.message.role
            if role == "system" and not _flag(options, "system"):
                continue
            heading = f"** {role.capitalize()}"
            if role == "assistant" and stored.model and _flag(options, "models"):
                heading += f"  :{_TAG_UNSAFE.sub('_', stored.model)}:"
            lines.append(heading)
            if stored.created_at:
                lines.append(_timestamp(stored.created_at))
            lines += [
                "#+begin_src markdown",
                escape_block(stored.message.content or ""),
                "#+end_src",
                "",
            ]
        return lines
