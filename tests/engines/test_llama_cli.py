"""``llf-host chat``, ``bench``, ``models`` and ``serve`` with the embedded model,
run as real subprocesses with a fresh ``LLF_HOST_HOME`` (the README's first command)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from llf_host.client import AsyncClient
from llf_host.testing import home_environ
from tests.engines.conftest import needs_llama

CLI = [sys.executable, "-m", "llf_host._cli"]


def env_for(home: Path, cache: Path | None = None) -> dict[str, str]:
    extra = {"LLF_HOST__PLUGINS__LLAMA_CPP__N_THREADS": "1"}
    if cache is not None:
        extra["LLF_HOST__PLUGINS__LLAMA_CPP__CACHE_DIR"] = str(cache)
    return home_environ(home, extra)


def run_cli(args: list[str], env: dict[str, str], stdin: str | None = None):
    return subprocess.run(
        [*CLI, *args], env=env, input=stdin, capture_output=True, text=True, timeout=240
    )


@pytest.mark.llama
@needs_llama
def test_chat_works_on_a_fresh_home_with_no_config(tmp_path):
    home = tmp_path / "fresh"
    out = run_cli(["chat", "-o", "max_tokens=5", "Hello"], env_for(home))
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip()
    assert (home / "cache" / "models" / "gemma-3-270m-q4_k_m.gguf").is_file()
    assert not (home / "config" / "config.toml").exists()


@pytest.mark.llama
@needs_llama
def test_chat_reads_a_piped_prompt_and_prints_stats(tmp_path, model_cache):
    out = run_cli(
        ["chat", "--stats", "-o", "max_tokens=4", "-o", "temperature=0", "-s", "Be brief."],
        env_for(tmp_path / "home", model_cache),
        stdin="Name a colour.",
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip()
    assert "4 completion tokens" in out.stderr
    assert "tokens/s" in out.stderr


def test_chat_without_the_local_extra_says_how_to_install_it(tmp_path):
    code = (
        "import sys; sys.modules['llama_cpp'] = None\n"
        "from llf_host._cli import main\n"
        "main(['chat', 'Hello'])\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        env=env_for(tmp_path / "home"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 1
    assert "pip install 'llf-host[local]'" in out.stderr
    assert out.stdout == ""


def test_chat_needs_a_prompt(tmp_path):
    out = run_cli(["chat"], env_for(tmp_path / "home"), stdin="")
    assert out.returncode == 2
    assert "PROMPT" in out.stderr


@needs_llama
def test_models_list_shows_the_embedded_model(tmp_path, model_cache):
    out = run_cli(["models", "list", "--json"], env_for(tmp_path / "home", model_cache))
    assert out.returncode == 0, out.stderr
    listing = json.loads(out.stdout)
    ids = {m["id"]: m for m in listing["models"]}
    gemma = ids["llama_cpp/gemma-3-270m-q4_k_m"]
    assert gemma["details"]["aliases"] == ["default"]
    assert gemma["loaded"] is False
    assert gemma["context_length"] == 4096
    table = run_cli(["models", "list"], env_for(tmp_path / "home", model_cache))
    assert "llama_cpp/gemma-3-270m-q4_k_m" in table.stdout
    assert "alias: default" in table.stdout


@pytest.mark.llama
@needs_llama
def test_bench_reports_ttft_and_tokens_per_second(tmp_path, model_cache):
    out = run_cli(
        ["bench", "--runs", "2", "--max-tokens", "4", "--json"],
        env_for(tmp_path / "home", model_cache),
    )
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["model"] == "llama_cpp/default"
    assert len(report["runs"]) == 2
    assert all(r["completion_tokens"] == 4 for r in report["runs"])
    assert report["median_ttft_ms"] > 0 and report["median_tokens_per_second"] > 0
    assert report["warmup"]["load_ms"] > 0


@pytest.mark.llama
@needs_llama
async def test_serve_streams_real_tokens(tmp_path, model_cache):
    client = await AsyncClient.spawn(
        env=env_for(tmp_path / "home", model_cache), stderr=subprocess.DEVNULL
    )
    async with client:
        await client.initialize()
        listing = await client.request("models/list", timeout=60)
        assert "llama_cpp/gemma-3-270m-q4_k_m" in {m["id"] for m in listing["models"]}
        stream = client.stream_chat(
            "llama_cpp/default",
            [{"role": "user", "content": "Name a colour."}],
            options={"max_tokens": 5, "temperature": 0},
        )
        deltas = [chunk.content async for chunk in stream]
        result = stream.result
        assert len([d for d in deltas if d]) >= 2
        assert "".join(deltas) == result.message.content
        assert result.usage.completion_tokens == 5
        assert result.timings.ttft_ms and result.timings.tokens_per_second


@pytest.mark.llama
@needs_llama
def test_ctrl_c_stops_a_streaming_chat(tmp_path, model_cache):
    import signal

    env = env_for(tmp_path / "home", model_cache)
    env["LLF_HOST__PLUGINS__LLAMA_CPP__N_CTX"] = "2048"
    proc = subprocess.Popen(
        [*CLI, "chat", "-o", "max_tokens=0", "Hello"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.read(1)  # tokens are streaming
        proc.send_signal(signal.SIGINT)
        out, _err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode != 0
    # Left alone it would have filled the 2048-token context.
    assert len(out) < 2048
