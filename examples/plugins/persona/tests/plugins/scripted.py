"""A scripted provider for the tests: mock/echo repeats the system prompt it got."""

from llf_host import hookimpl
from llf_host.testing import MockProvider


def _reply(request):
    system = [m.content for m in request.messages if m.role == "system"]
    return f"[{system[0] if system else 'no system prompt'}] ok"


@hookimpl
def llf_providers():
    return MockProvider("mock", models=["echo"], reply=_reply)
