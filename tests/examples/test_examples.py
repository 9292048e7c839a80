"""The examples work: each plugin passes its own tests and `plugins check`; the agent runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from llf_host.testing import home_environ

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
PLUGINS = sorted(p.name for p in (EXAMPLES / "plugins").iterdir() if (p / "plugin.toml").is_file())
AGENT = EXAMPLES / "agent" / "agent.py"


def run(
    args: list[str], *, home: Path, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    env = home_environ(home)
    env.pop("PYTEST_ADDOPTS", None)
    return subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, timeout=240, check=False
    )


def test_there_are_example_plugins_and_each_has_a_readme():
    assert len(PLUGINS) >= 3
    for name in PLUGINS:
        readme = EXAMPLES / "plugins" / name / "README.md"
        assert readme.is_file() and f"# {name}" in readme.read_text()
        assert f"plugins/{name}/" in (EXAMPLES / "README.md").read_text()


@pytest.mark.parametrize("name", PLUGINS)
def test_example_plugin_passes_plugins_check(name, tmp_path):
    done = run(
        [
            sys.executable,
            "-m",
            "llf_host._cli",
            "plugins",
            "check",
            "--json",
            str(EXAMPLES / "plugins" / name),
        ],
        home=tmp_path,
    )
    report = json.loads(done.stdout)
    assert done.returncode == 0, report["findings"]
    assert report["findings"] == []  # not even a warning
    assert report["name"] == name and report["contributes"]


@pytest.mark.parametrize("name", PLUGINS)
def test_example_plugin_tests_pass(name, tmp_path):
    done = run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        home=tmp_path,
        cwd=EXAMPLES / "plugins" / name,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert " passed" in done.stdout and "failed" not in done.stdout


def agent(tmp_path: Path, *extra: str) -> dict:
    done = run(
        [
            sys.executable,
            str(AGENT),
            "--plugins-dir",
            str(EXAMPLES / "agent" / "plugins"),
            "--planner",
            "mock/planner",
            "--writer",
            "mock/writer",
            "--json",
            *extra,
            "home composting",
        ],
        home=tmp_path,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout)


def test_agent_routes_by_task_and_shares_one_budget(tmp_path):
    report = agent(tmp_path, "--budget-tokens", "4000")
    assert report["plan_served_by"] == "mock/planner"
    sections = report["sections"]
    assert [s["title"] for s in sections] == [
        "Why home composting",
        "How to start with home composting",
        "Pitfalls of home composting",
    ]
    assert all(s["served_by"] == "mock/writer" and not s["skipped"] for s in sections)
    team = report["team"]
    assert team["requests"] == 4 and len(team["children"]) == 2
    written = sum(s["tokens"] for s in sections)
    assert written < team["spent_tokens"] <= 4000  # the plan's tokens are the team's too


def test_agent_stops_cleanly_when_the_budget_runs_out(tmp_path):
    report = agent(tmp_path, "--budget-tokens", "330", "--write-tokens", "260")
    skipped = [s for s in report["sections"] if s["skipped"]]
    written = [s for s in report["sections"] if not s["skipped"]]
    assert skipped and written
    assert all("would be overspent" in s["skipped"] for s in skipped)
    assert report["team"]["spent_tokens"] <= 330


@pytest.mark.skipif(
    os.environ.get("LLF_EXAMPLES_REAL_MODEL") != "1",
    reason="set LLF_EXAMPLES_REAL_MODEL=1 to run the agent on the embedded model",
)
@pytest.mark.slow
@pytest.mark.llama
def test_agent_runs_on_the_embedded_model(tmp_path):
    done = run([sys.executable, str(AGENT), "--json", "home composting"], home=tmp_path)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["plan_served_by"].startswith("llama_cpp/")
    assert report["team"]["spent_tokens"] <= 4000
