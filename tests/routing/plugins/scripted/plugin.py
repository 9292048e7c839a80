"""Two providers, ``local/*`` and ``cloud/*``, that follow a per-model script.

A test sets ``provider.script["local/a"] = ["down", "ok"]``: each call takes the
next step. Steps are error names (``down``, ``loading``, ``rate_limited``,
``context_length``, ``not_found``, ``auth``, ``bad_response``, ``queue_full``),
``"mid_stream:<name>"`` (one token, then that error), ``"ok"`` (the default) or
``"slow"`` (waits on ``provider.gate`` before answering).
"""

from __future__ import annotations

import asyncio

from llf_host import AuthenticationError
from llf_host import ChatChunk
from llf_host import ContextLengthError
from llf_host import ModelInfo
from llf_host import ModelLoadingError
from llf_host import ModelNotFoundError
from llf_host import Provider
from llf_host import ProviderResponseError
from llf_host import ProviderUnavailableError
from llf_host import QueueFullError
from llf_host import RateLimitedError
from llf_host import Usage
from llf_host import hookimpl


def make_error(name, model):
    if name == "down":
        return ProviderUnavailableError(f"{model}: connection refused", hint="start it")
    if name == "loading":
        return ModelLoadingError(f"{model}: loading", hint="wait", retry_after=0.1)
    if name == "rate_limited":
        return RateLimitedError(f"{model}: 429", hint="slow down", retry_after=0.25)
    if name == "context_length":
        return ContextLengthError(f"{model}: prompt too long", hint="shorten it")
    if name == "not_found":
        return ModelNotFoundError(f"{model}: not pulled", hint="pull it")
    if name == "auth":
        return AuthenticationError(f"{model}: bad key", hint="set the key")
    if name == "bad_response":
        return ProviderResponseError(f"{model}: garbage", hint="report it")
    if name == "queue_full":
        return QueueFullError(f"{model}: server busy", hint="retry later")
    raise ValueError(f"unknown step {name!r}")


class Scripted(Provider):
    def __init__(self, prefix, *, local):
        self.prefix = prefix
        self.description = f"scripted {prefix} models"
        self.local = local
        self.script = {}
        self.calls = []
        self.requests = []
        self.models = {
            name: ModelInfo(id=f"{prefix}/{name}", name=name, provider=prefix, local=local)
            for name in ("a", "b", "c")
        }
        self.reply_usage = Usage(prompt_tokens=10, completion_tokens=5, total_tokens=15)
        self.gate = asyncio.Event()
        self.gate.set()

    async def list_models(self):
        return list(self.models.values())

    async def chat(self, request):
        model_id = f"{self.prefix}/{request.model}"
        self.calls.append(model_id)
        self.requests.append(request)
        steps = self.script.get(model_id) or []
        step = steps.pop(0) if steps else "ok"
        if step == "slow":
            await self.gate.wait()
        elif step.startswith("mid_stream:"):
            yield ChatChunk(content="partial ")
            raise make_error(step.split(":", 1)[1], model_id)
        elif step != "ok":
            raise make_error(step, model_id)
        yield ChatChunk(content=f"answer from {model_id}")
        yield ChatChunk(finish_reason="stop", usage=self.reply_usage)


@hookimpl
def llf_providers():
    return [Scripted("local", local=True), Scripted("cloud", local=False)]
