"""Managed engines: the host starts a local server when its endpoint is down."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import pytest

from llf_host import ConfigError
from llf_host import ProviderUnavailableError

from .conftest import PLUGIN_DIR
from .conftest import chat
from .plugin_modules import plugin_module
from .wire_server import free_port

redact_log_line = plugin_module("managed").redact_log_line


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.llama
async def test_down_endpoint_is_started_used_and_stopped(gemma_gguf: Path, make_host) -> None:
    port = free_port()
    command = [
        sys.executable, "-m", "llama_cpp.server", "--model", str(gemma_gguf), "--model_alias", "gemma",
        "--host", "{host}", "--port", "{port}", "--n_threads", "1", "--n_ctx", "512", "--chat_format", "gemma",
    ]  # fmt: skip
    section = {
        "autodetect": False,
        "endpoints": {
            "local": {
                "api_base": f"http://127.0.0.1:{port}/v1",
                "engine": "llama_cpp_python",
                "managed": {"command": command, "ready_timeout_s": 90},
            }
        },
    }
    logs = Records()
    engine_log = logging.getLogger("llf.engine.local")
    engine_log.addHandler(logs)
    engine_log.setLevel(logging.INFO)
    try:
        host = await make_host(plugins=[PLUGIN_DIR], config={"plugins": {"openai_compat": section}})
        assert (await host.registry.providers["local"].obj.health()).state == "down"
        result = await chat(host, "local/gemma", "zebra-secret-42", max_tokens=4)
        assert result.finish_reason in {"stop", "length"}
        assert (await host.registry.providers["local"].obj.health()).state == "ready"
        state = host.plugins["openai_compat"].imported.module._state
        process = state.managed.processes["local"].process
        assert process is not None and alive(process.pid)
        pid = process.pid
        await host.aclose()
        assert not alive(pid)
    finally:
        engine_log.removeHandler(logs)
    assert logs.lines, "the engine's output goes to the host log"
    assert not any("zebra-secret-42" in line for line in logs.lines)


async def test_engine_that_exits_early_reports_why(make_host) -> None:
    port = free_port()
    command = [sys.executable, "-c", "import sys; print('no model given'); sys.exit(3)"]
    section = {
        "autodetect": False,
        "engines": {"llamacpp": {"hosts": [f"127.0.0.1:{port}"], "managed": {"command": command}}},
    }
    host = await make_host(plugins=[PLUGIN_DIR], config={"plugins": {"openai_compat": section}})
    with pytest.raises(ProviderUnavailableError, match="exited with code 3") as info:
        await chat(host, "llamacpp/m")
    assert "no model given" in info.value.data["log_tail"]
    assert "run the command yourself" in (info.value.hint or "")


async def test_managed_engines_run_on_loopback_only(make_host) -> None:
    section = {
        "engines": {
            "vllm": {"hosts": ["10.1.2.3:8000"], "managed": {"command": ["vllm", "serve", "m"]}}
        }
    }
    host = await make_host(plugins=[PLUGIN_DIR], config={"plugins": {"openai_compat": section}})
    record = host.plugins["openai_compat"]
    assert record.status == "failed" and isinstance(record.error, ConfigError)
    assert "loopback" in record.error.message


def test_log_lines_are_redacted_after_prompt_fields() -> None:
    assert redact_log_line('request: {"messages": [{"role": "user", "content": "secret"}]}') == (
        'request: {"messages": [redacted]'
    )
    assert "secret" not in redact_log_line("prompt: tell me a secret")
    assert (
        redact_log_line("llama_model_loader: loaded meta data")
        == "llama_model_loader: loaded meta data"
    )
    assert len(redact_log_line("x" * 5000)) < 600
