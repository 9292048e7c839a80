"""The providers section of `llf-host doctor` (host/llf_host/_doctor_providers.py)."""

from __future__ import annotations

from llf_host._doctor_providers import doctor_section

from .test_discovery_health import ENGINES
from .wire_server import free_port


async def test_section_shows_each_provider_state_and_the_fix(scripted, engines_host) -> None:
    vllm = await scripted(ENGINES["vllm"])
    port = free_port()
    host = await engines_host(
        {
            "engines": {
                "vllm": {"hosts": [vllm.address]},
                "ollama": {"hosts": [f"127.0.0.1:{port}"]},
            }
        }
    )
    section = await doctor_section(host)
    assert section["title"] == "Providers" and section["status"] == "ok"
    lines = "\n".join(section["lines"])
    assert f"[ok] vllm/: vLLM is ready at {vllm.address}" in lines
    assert f"[--] ollama/: Ollama is not running at 127.0.0.1:{port}" in lines
    assert "fix: start it with `ollama serve`" in lines
    assert section["data"]["ollama"]["state"] == "down"


async def test_section_warns_when_nothing_is_ready(engines_host) -> None:
    port = free_port()
    host = await engines_host({"engines": {"vllm": {"hosts": [f"127.0.0.1:{port}"]}}})
    section = await doctor_section(host)
    assert section["status"] == "warning"
