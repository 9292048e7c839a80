"""`llf-host keys ...` end to end, as a user runs it: a real process, secrets on stdin."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from .helpers import PASSPHRASE
from .helpers import cli_env
from .helpers import fast_store
from .helpers import run_cli

SECRET = "sk-cli-0123456789abcdef"


@pytest.fixture
def home(tmp_path):
    return tmp_path / "home"


def store_path(home: Path) -> Path:
    return home / "data" / "keys.enc"


def assert_quiet(result, *secrets):
    for secret in secrets:
        assert secret not in result.stdout and secret not in result.stderr


def test_set_list_rm_round_trip(home):
    env = cli_env(home, LLF_HOST_PASSPHRASE=PASSPHRASE)
    done = run_cli(["keys", "set", "OPENAI_API_KEY"], env, stdin=SECRET + "\n")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "stored key OPENAI_API_KEY"
    assert stat.S_IMODE(store_path(home).stat().st_mode) == 0o600
    assert stat.S_IMODE(store_path(home).parent.stat().st_mode) == 0o700
    # the trailing newline from `echo` is not part of the value
    assert fast_store(store_path(home)).read_key("OPENAI_API_KEY", plugin="t") == SECRET

    run_cli(["keys", "set", "B.key:2"], env, stdin="second-secret-value")
    listed = run_cli(["keys", "list"], env)
    assert listed.returncode == 0, listed.stderr
    assert [line.split()[0] for line in listed.stdout.splitlines()] == [
        "B.key:2",
        "OPENAI_API_KEY",
    ]
    as_json = json.loads(run_cli(["keys", "list", "--json"], env).stdout)
    assert [row["name"] for row in as_json] == ["B.key:2", "OPENAI_API_KEY"]
    assert set(as_json[0]) == {"name", "created", "updated"}
    assert run_cli(["keys", "list", "--names"], env).stdout.split() == ["B.key:2", "OPENAI_API_KEY"]

    removed = run_cli(["keys", "rm", "B.key:2"], env)
    assert removed.returncode == 0 and removed.stdout.strip() == "deleted key B.key:2"
    missing = run_cli(["keys", "rm", "B.key:2"], env)
    assert missing.returncode == 1
    assert "no key named 'B.key:2'" in missing.stderr and "fix:" in missing.stderr
    for result in (done, listed, removed, missing):
        assert_quiet(result, SECRET, "second-secret-value")


def test_a_value_is_never_taken_from_the_command_line(home):
    env = cli_env(home, LLF_HOST_PASSPHRASE=PASSPHRASE)
    result = run_cli(["keys", "set", "K", SECRET], env)
    assert result.returncode == 2
    assert "unexpected extra argument" in result.stderr
    assert not store_path(home).exists()


def test_without_a_passphrase_and_no_terminal_it_explains(home):
    env = cli_env(home)
    fresh = run_cli(["keys", "set", "K"], env, stdin=SECRET)
    assert fresh.returncode == 1
    assert "LLF_HOST_PASSPHRASE" in fresh.stderr
    assert not store_path(home).exists()

    run_cli(["keys", "set", "K"], cli_env(home, LLF_HOST_PASSPHRASE=PASSPHRASE), stdin=SECRET)
    locked = run_cli(["keys", "list"], env)
    assert locked.returncode == 1
    assert "locked" in locked.stderr and "llf-host keys unlock" in locked.stderr
    assert_quiet(fresh, SECRET)


def test_wrong_passphrase_changes_nothing(home):
    run_cli(["keys", "set", "K"], cli_env(home, LLF_HOST_PASSPHRASE=PASSPHRASE), stdin=SECRET)
    before = store_path(home).read_bytes()
    wrong = cli_env(home, LLF_HOST_PASSPHRASE="wrong passphrase")
    result = run_cli(["keys", "set", "K2"], wrong, stdin="would-be-stored")
    assert result.returncode == 1
    assert "wrong passphrase" in result.stderr
    assert store_path(home).read_bytes() == before


def test_rotate_reads_the_new_passphrase_from_stdin(home):
    env = cli_env(home, LLF_HOST_PASSPHRASE=PASSPHRASE)
    for name in ("A", "B", "C"):
        run_cli(["keys", "set", name], env, stdin=f"{name}-secret-value")
    rotated = run_cli(["keys", "rotate"], env, stdin="brand new passphrase\n")
    assert rotated.returncode == 0, rotated.stderr
    assert "re-encrypted 3 key(s)" in rotated.stdout
    assert "LLF_HOST_PASSPHRASE still holds the old passphrase" in rotated.stderr
    assert run_cli(["keys", "list"], env).returncode == 1
    new_env = cli_env(home, LLF_HOST_PASSPHRASE="brand new passphrase")
    assert run_cli(["keys", "list", "--names"], new_env).stdout.split() == ["A", "B", "C"]
    assert_quiet(rotated, "brand new passphrase", PASSPHRASE)


def test_import_from_environment_and_from_llm(home, tmp_path):
    env = cli_env(
        home,
        LLF_HOST_PASSPHRASE=PASSPHRASE,
        OPENAI_API_KEY="sk-from-env-0001",
        ANTHROPIC_API_KEY="sk-ant-from-env-0002",
    )
    result = run_cli(
        ["keys", "import", "--from-env", "OPENAI_API_KEY", "anthropic=ANTHROPIC_API_KEY"], env
    )
    assert result.returncode == 0, result.stderr
    assert "imported 2 key(s): OPENAI_API_KEY, anthropic" in result.stdout

    missing = run_cli(["keys", "import", "--from-env", "NOT_SET_ANYWHERE"], env)
    assert missing.returncode == 1 and "NOT_SET_ANYWHERE" in missing.stderr

    llm_keys = tmp_path / "keys.json"
    llm_keys.write_text(
        json.dumps(
            {
                "// Note": "This file stores secret API credentials. Do not share!",
                "openai": "sk-from-llm-0003",
                "anthropic": "sk-from-llm-0004",
                "bad name": "sk-from-llm-0005",
            }
        )
    )
    first = run_cli(["keys", "import", "--from-llm", str(llm_keys)], env)
    assert first.returncode == 0, first.stderr
    assert "imported 1 key(s): openai" in first.stdout
    assert "skipped anthropic: already stored (use --overwrite" in first.stderr
    assert "skipped bad name: not a valid key name" in first.stderr
    again = run_cli(["keys", "import", "--overwrite", "--from-llm", str(llm_keys)], env)
    assert "imported 2 key(s)" in again.stdout

    store = fast_store(store_path(home))
    assert store.names() == ["OPENAI_API_KEY", "anthropic", "openai"]
    assert store.read_key("anthropic", plugin="t") == "sk-from-llm-0004"
    for out in (result, missing, first, again):
        assert_quiet(out, "sk-from-env-0001", "sk-from-llm-0003", "sk-from-llm-0004")

    usage = run_cli(["keys", "import"], env)
    assert usage.returncode == 2 and "exactly one of" in usage.stderr


def test_path_shows_where_and_how(home):
    env = cli_env(home, LLF_HOST_PASSPHRASE=PASSPHRASE)
    assert run_cli(["keys", "path"], env).stdout.strip() == str(store_path(home))
    run_cli(["keys", "set", "K"], env, stdin=SECRET)
    info = json.loads(run_cli(["keys", "path", "--json"], cli_env(home)).stdout)
    assert info["exists"] is True and info["unlocked"] is False
    assert info["kdf"] == {"name": "scrypt", "n": 1024, "r": 8, "p": 1}
    assert info["cipher"] == "AES-256-GCM"


def test_unlock_without_a_keyring_explains_the_alternative(home):
    result = run_cli(["keys", "unlock"], cli_env(home, LLF_HOST_PASSPHRASE=PASSPHRASE))
    assert result.returncode == 1
    assert "no OS keyring" in result.stderr
    assert "LLF_HOST_PASSPHRASE" in result.stderr


def test_unlock_saves_the_passphrase_in_the_keyring(home, tmp_path):
    pytest.importorskip("keyring")
    keyring_file = tmp_path / "keyring.json"
    keyring_env = {
        "PYTHON_KEYRING_BACKEND": "file_keyring.FileKeyring",
        "PYTHONPATH": str(Path(__file__).parent),
        "TEST_KEYRING_FILE": str(keyring_file),
    }
    with_env = cli_env(home, LLF_HOST_PASSPHRASE=PASSPHRASE, **keyring_env)
    run_cli(["keys", "set", "K"], with_env, stdin=SECRET)
    unlocked = run_cli(["keys", "unlock"], with_env)
    assert unlocked.returncode == 0, unlocked.stderr
    assert "saved in the OS keyring" in unlocked.stdout

    keyring_only = cli_env(home, **keyring_env)
    assert run_cli(["keys", "list", "--names"], keyring_only).stdout.split() == ["K"]
    rotated = run_cli(["keys", "rotate"], keyring_only, stdin="rotated via keyring\n")
    assert rotated.returncode == 0, rotated.stderr
    assert "keyring entry now holds the new passphrase" in rotated.stderr
    assert run_cli(["keys", "list", "--names"], keyring_only).stdout.split() == ["K"]

    locked = run_cli(["keys", "lock"], keyring_only)
    assert "no longer holds" in locked.stdout
    assert run_cli(["keys", "list"], keyring_only).returncode == 1


def run_on_terminal(args, env, answers, timeout=60.0):
    """Run `llf-host ARGS` with a pseudo-terminal as stdin/stdout/stderr; answer prompts.

    ``answers`` is a list of (prompt text, reply). Returns (exit code, all output).
    """
    import os
    import select
    import subprocess
    import sys
    import time

    script = Path(sys.executable).parent / "llf-host"
    master, slave = os.openpty()
    proc = subprocess.Popen(
        [str(script), *args],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=env,
        start_new_session=True,  # no controlling terminal: getpass uses stdin
    )
    os.close(slave)
    output, pending, seen = b"", list(answers), 0
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.1)
            if ready:
                try:
                    chunk = os.read(master, 4096)
                except OSError:
                    chunk = b""
                if not chunk:
                    break
                output += chunk
            if pending and pending[0][0].encode() in output[seen:]:
                seen = output.index(pending[0][0].encode(), seen) + len(pending[0][0])
                os.write(master, pending.pop(0)[1].encode() + b"\n")
            if proc.poll() is not None and not ready:
                break
        else:
            proc.kill()
            raise AssertionError(f"timed out; output so far: {output!r}")
        code = proc.wait(timeout=10)
    finally:
        os.close(master)
    return code, output.decode("utf-8", "replace")


def test_on_a_terminal_passphrase_and_value_are_asked_hidden(home):
    env = cli_env(home)
    code, output = run_on_terminal(
        ["keys", "set", "TTY_KEY"],
        env,
        [
            ("New key store passphrase", "typed passphrase 42"),
            ("Repeat for confirmation", "typed passphrase 42"),
            ("Value for TTY_KEY", "typed-secret-value-42"),
        ],
    )
    assert code == 0, output
    assert "stored key TTY_KEY" in output
    assert "typed-secret-value-42" not in output  # hidden input is not echoed
    assert "typed passphrase 42" not in output
    store = fast_store(store_path(home), passphrase="typed passphrase 42")
    assert store.read_key("TTY_KEY", plugin="t") == "typed-secret-value-42"

    code, output = run_on_terminal(
        ["keys", "list"], env, [("Key store passphrase", "typed passphrase 42")]
    )
    assert code == 0, output
    assert "TTY_KEY" in output
