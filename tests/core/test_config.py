"""Config file, environment overrides and the `config` commands."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from llf_host import ConfigError
from llf_host._config import load_config
from llf_host.testing import home_environ


def test_missing_file_means_defaults(tmp_path):
    cfg = load_config(tmp_path / "none.toml", environ={})
    assert cfg.host.log_level == "warning" and cfg.data == {}


def test_env_overrides_nest_and_parse_toml_values(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text('[host]\nlog_level = "info"\n[plugins.llama_cpp]\nn_threads = 4\n')
    cfg = load_config(
        path,
        environ={
            "LLF_HOST__HOST__LOG_LEVEL": "debug",
            "LLF_HOST__PLUGINS__LLAMA_CPP__N_THREADS": "2",
            "LLF_HOST__HOST__DISABLED": '["mlx"]',
            "LLF_HOST__PLUGINS__LLAMA_CPP__MODEL": "not toml at all/x",
        },
    )
    assert cfg.host.log_level == "debug"
    assert cfg.host.disabled == ["mlx"]
    assert cfg.plugin_section("llama_cpp") == {"n_threads": 2, "model": "not toml at all/x"}
    assert cfg.plugin_section("llama-cpp") == cfg.plugin_section("llama_cpp")
    assert len(cfg.env_applied) == 4


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("[host\n", "not valid TOML"),
        ("[nonsense]\nx = 1\n", "unknown section [nonsense]"),
        ("[host]\nlog_levl = 'x'\n", "[host] is invalid"),
        ("[host]\nwatch = 'sometimes'\n", "[host] is invalid"),
        ("plugins = 3\n", "[plugins] must hold one table per plugin"),
    ],
)
def test_invalid_config_is_a_clear_error(tmp_path, text, needle):
    path = tmp_path / "config.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(path, environ={})
    assert needle in info.value.message
    assert info.value.hint


def run_cli(home, *args):
    return subprocess.run(
        [sys.executable, "-m", "llf_host._cli", *args],
        env=home_environ(home),
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_config_path_and_show(tmp_path):
    home = tmp_path / "home"
    out = run_cli(home, "config", "path")
    assert out.returncode == 0
    path = out.stdout.strip()
    assert path == str(home / "config" / "config.toml")
    (home / "config").mkdir(parents=True)
    (home / "config" / "config.toml").write_text('[host]\ndefault_model = "x/y"\n')
    shown = run_cli(home, "config", "show", "--json")
    assert json.loads(shown.stdout) == {"host": {"default_model": "x/y"}}


def test_broken_config_fails_cleanly_on_the_cli(tmp_path):
    home = tmp_path / "home"
    (home / "config").mkdir(parents=True)
    (home / "config" / "config.toml").write_text("[host\n")
    out = run_cli(home, "plugins", "list")
    assert out.returncode == 1
    assert "error:" in out.stderr and "fix:" in out.stderr
    assert "Traceback" not in out.stderr


def test_version_flag(tmp_path):
    out = run_cli(tmp_path, "--version")
    assert out.returncode == 0 and "llf-host, version" in out.stdout
