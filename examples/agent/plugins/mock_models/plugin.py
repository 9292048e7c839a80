"""Two scripted models, so the agent example runs anywhere, instantly and offline.

``mock/planner`` answers with a numbered list of steps about the topic in the
prompt; ``mock/writer`` answers with a short paragraph about the section it is
asked for. Usage is counted in words, like :class:`llf_host.testing.MockProvider`.
"""

from __future__ import annotations

from llf_host import ChatRequest
from llf_host import hookimpl
from llf_host.testing import MockProvider


def _last_user(request: ChatRequest) -> str:
    users = [m.content or "" for m in request.messages if m.role == "user"]
    return users[-1] if users else ""


def _reply(request: ChatRequest) -> str:
    prompt = _last_user(request)
    topic = prompt.rpartition(":")[2].strip() or "the topic"
    if request.model == "planner":
        return "\n".join(
            f"{i}. {step} {topic}"
            for i, step in enumerate(["Why", "How to start with", "Pitfalls of"], start=1)
        )
    return f"This section covers {topic} in a few plain words."


@hookimpl
def llf_providers() -> MockProvider:
    return MockProvider("mock", models=["planner", "writer"], reply=_reply)
