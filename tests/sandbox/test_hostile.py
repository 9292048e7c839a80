"""The hostile-tool suite: every attack runs for real inside the sandbox and is bounded.

After each attack: the call failed (or returned) the expected way, the host
still answers, the next benign call succeeds, and no process started by the
attack is left (found by a marker in /proc/PID/comm).
"""

from __future__ import annotations

import os
import socket
import stat

import pytest

from llf_host import SandboxDenied
from llf_host import ToolCrashed
from llf_host import ToolError
from llf_host import ToolOutputTooLarge
from llf_host import ToolResourceLimit
from llf_host import ToolTimeout

from .conftest import processes_with_comm


async def _still_fine(runner, marker: str | None = None) -> None:
    assert runner.list_tools()  # the host answers
    result = await runner.call("benign", {"x": 7})
    assert result.result["x"] == 7
    if marker is not None:
        assert processes_with_comm(marker) == []


async def test_cpu_loop_is_stopped_by_the_cpu_limit(hostile):
    _host, runner = hostile
    with pytest.raises(ToolTimeout) as info:
        await runner.call("cpu_loop", {})
    assert info.value.data["limit"] == "cpu_s"
    await _still_fine(runner)


async def test_memory_bomb_hits_the_address_space_limit(hostile):
    _host, runner = hostile
    with pytest.raises(ToolResourceLimit) as info:
        await runner.call("memory_bomb", {})
    assert info.value.data["limit"] == "memory_mb"
    await _still_fine(runner)


async def test_fork_bomb_with_setsid_children_is_bounded_and_torn_down(hostile, marker):
    _host, runner = hostile
    result = await runner.call("fork_bomb", {"marker": marker})
    # pids.max = 16 counts the tool itself and its threads: fewer than 16 forks.
    assert 0 < result.result < 16
    assert processes_with_comm(marker) == []
    await _still_fine(runner, marker)


async def test_disk_fill_across_many_files_hits_the_workdir_cap(hostile):
    _host, runner = hostile
    with pytest.raises(ToolResourceLimit) as info:
        await runner.call("disk_fill", {})
    assert info.value.data["limit"] == "workdir_mb"
    await _still_fine(runner)


async def test_one_big_file_hits_the_file_size_limit(hostile):
    _host, runner = hostile
    with pytest.raises(ToolResourceLimit) as info:
        await runner.call("big_file", {})
    assert info.value.data["limit"] == "file_size_mb"
    await _still_fine(runner)


async def test_writes_outside_the_workdir_are_denied(hostile, tmp_path):
    _host, runner = hostile
    target = tmp_path / "pwned.txt"
    with pytest.raises(SandboxDenied) as info:
        await runner.call("write_outside", {"path": str(target)})
    assert not target.exists()
    assert info.value.data["what"] == "filesystem"
    assert info.value.data["access"] == "write"
    assert str(target) in info.value.data["path"]
    assert "filesystem" in info.value.hint
    await _still_fine(runner)


async def test_a_same_uid_secret_file_cannot_be_read(hostile, tmp_path):
    _host, runner = hostile
    secret = tmp_path / "secret.txt"
    secret.write_text("the-secret-value")
    secret.chmod(stat.S_IRUSR | stat.S_IWUSR)
    assert secret.stat().st_uid == os.getuid()
    with pytest.raises(SandboxDenied) as info:
        await runner.call("read_secret", {"path": str(secret)})
    assert "the-secret-value" not in str(info.value.to_wire())
    await _still_fine(runner)


async def test_the_key_store_file_cannot_be_read(hostile):
    host, runner = hostile
    keys = host.paths.keys_file
    keys.parent.mkdir(parents=True, exist_ok=True)
    keys.write_bytes(b"pretend-encrypted-keys")
    with pytest.raises(SandboxDenied):
        await runner.call("read_secret", {"path": str(keys)})


async def test_environment_variables_hold_no_host_keys(tmp_path, monkeypatch):
    from llf_host._tools import get_tool_runner
    from llf_host.testing import isolated_host

    from .conftest import PLUGINS

    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-should-not-leak")
    async with isolated_host(
        tmp_path / "home",
        plugins=[PLUGINS / "hostile"],
        environ={"OPENAI_API_KEY": "sk-test-should-not-leak", "LLF_HOST_PASSPHRASE": "pw"},
    ) as host:
        env = (await get_tool_runner(host).call("read_env", {})).result
    assert "OPENAI_API_KEY" not in env and "LLF_HOST_PASSPHRASE" not in env
    assert not any("sk-test" in value for value in env.values())
    assert env["HOME"] == env["TMPDIR"]
    assert set(env) <= {
        "PATH",
        "LANG",
        "TZ",
        "HOME",
        "TMPDIR",
        "MALLOC_ARENA_MAX",
        "OPENBLAS_NUM_THREADS",
        "PYTHONDONTWRITEBYTECODE",
        "LLF_TOOL_PLUGIN",
        "LLF_FS_READ",
        "LLF_FS_WRITE",
        "LLF_NETWORK",
    }


async def test_tcp_to_a_loopback_listener_is_denied(hostile):
    _host, runner = hostile
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        server.settimeout(0.2)
        port = server.getsockname()[1]
        with pytest.raises(SandboxDenied) as info:
            await runner.call("tcp_connect", {"port": port})
        assert info.value.data["what"] == "network"
        assert "network" in info.value.hint
        with pytest.raises(TimeoutError):
            server.accept()
    await _still_fine(runner)


async def test_udp_to_a_loopback_listener_is_denied(hostile):
    _host, runner = hostile
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as server:
        server.bind(("127.0.0.1", 0))
        server.settimeout(0.2)
        port = server.getsockname()[1]
        with pytest.raises(SandboxDenied):
            await runner.call("udp_send", {"port": port})
        with pytest.raises(TimeoutError):
            server.recvfrom(100)
    await _still_fine(runner)


async def test_a_double_forked_daemon_does_not_outlive_the_call(hostile, marker):
    _host, runner = hostile
    result = await runner.call("daemon", {"marker": marker})
    assert result.result == "daemonized"
    assert processes_with_comm(marker) == []
    await _still_fine(runner, marker)


async def test_100_mb_to_stdout_is_cut_off(hostile):
    _host, runner = hostile
    with pytest.raises(ToolOutputTooLarge) as info:
        await runner.call("flood_stdout", {})
    assert info.value.data["stream"] == "stdout"
    await _still_fine(runner)


@pytest.mark.parametrize("attack", ["garbage_frame", "forged_frame", "huge_frame_header"])
async def test_garbage_or_forged_frames_on_the_result_channel(hostile, attack):
    _host, runner = hostile
    with pytest.raises(ToolCrashed) as info:
        await runner.call(attack, {})
    assert info.value.data["reason"] == "invalid_frame"
    await _still_fine(runner)


async def test_sleeping_past_the_timeout(hostile):
    _host, runner = hostile
    with pytest.raises(ToolTimeout) as info:
        await runner.call("sleep_forever", {})
    assert info.value.data["limit"] == "timeout_s"
    await _still_fine(runner)


async def test_ignoring_sigterm_still_ends_with_sigkill(hostile):
    _host, runner = hostile
    with pytest.raises(ToolTimeout):
        await runner.call("ignore_sigterm", {})
    await _still_fine(runner)


async def test_segfault_via_ctypes(hostile):
    _host, runner = hostile
    with pytest.raises(ToolCrashed) as info:
        await runner.call("segfault", {})
    assert info.value.data["signal_name"] == "SIGSEGV"
    await _still_fine(runner)


async def test_deep_recursion_crashes_only_the_call(hostile):
    _host, runner = hostile
    with pytest.raises((ToolCrashed, ToolResourceLimit)):
        await runner.call("deep_recursion", {})
    with pytest.raises(ToolResourceLimit) as info:
        await runner.call("plain_recursion", {})
    assert info.value.data["limit"] == "recursion"
    await _still_fine(runner)


@pytest.mark.parametrize("attack", ["non_json", "nan_result"])
async def test_a_non_json_result(hostile, attack):
    _host, runner = hostile
    with pytest.raises(ToolCrashed) as info:
        await runner.call(attack, {})
    assert info.value.data["reason"] == "bad_result"
    await _still_fine(runner)


async def test_the_host_cannot_be_read_or_signalled_via_proc(hostile):
    _host, runner = hostile
    attempts = (await runner.call("attack_host", {"host_pid": os.getpid()})).result
    assert attempts, attempts
    assert all(value.startswith("failed") for value in attempts.values()), attempts
    await _still_fine(runner)


@pytest.mark.parametrize("attack", ["io_uring", "unshare_user"])
async def test_dangerous_syscalls_are_refused(hostile, attack):
    _host, runner = hostile
    result = (await runner.call(attack, {})).result
    assert result.startswith("refused errno 1"), result


async def test_a_tool_exception_is_a_tool_error_with_the_traceback(hostile):
    _host, runner = hostile
    with pytest.raises(ToolError) as info:
        await runner.call("read_secret", {"path": "relative-missing.txt"})
    assert info.value.data["exception"] == "FileNotFoundError"
    assert "read_secret" in info.value.data["traceback"]
