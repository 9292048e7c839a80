"""A spare that cannot confine itself runs nothing and says so to the call that reaches it.

The spare is driven directly (a fresh interpreter forks it), with a Landlock
ruleset fd that does not exist, so its confinement fails half-way.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from llf_sandbox._child import EXIT_SETUP

SCRIPT = r"""
import json, os, socket, sys
from llf_sandbox._child import SparePlan, WorkerConfig, run_spare
from llf_sandbox._wire import send_message

workdir, marker = sys.argv[1], sys.argv[2]

def tool():
    open(marker, "w").close()  # must never happen
    return "ran"

config = WorkerConfig()
config.functions["tool"] = tool
config.landlock_abi = 1
config.landlock_fd = 987  # not an open fd: restrict_self fails
mine, theirs = socket.socketpair()
pid = os.fork()
if pid == 0:
    mine.detach()
    run_spare(SparePlan(theirs, cgroup_fd=None, workdir=workdir, workdir_mb=1), config)
theirs.close()
result_r, result_w = os.pipe()
out_r, out_w = os.pipe()
err_r, err_w = os.pipe()
call = {"id": 1, "function": "tool", "args": {}, "limits": {}, "fds": 3}
send_message(mine, call, [result_w, out_w, err_w])
for fd in (result_w, out_w, err_w):
    os.close(fd)
mine.close()
frame = b""
while chunk := os.read(result_r, 65536):
    frame += chunk
_, status = os.waitpid(pid, 0)
print(json.dumps({"frame": json.loads(frame[4:]), "code": os.waitstatus_to_exitcode(status)}))
"""


def test_a_spare_that_failed_to_confine_itself_reports_setup_failed(tmp_path: Path) -> None:
    workdir = tmp_path / "work"
    workdir.mkdir()
    marker = tmp_path / "tool-ran"

    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(workdir), str(marker)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["code"] == EXIT_SETUP
    assert report["frame"]["ok"] is False
    assert report["frame"]["error"]["kind"] == "setup_failed"
    assert "Bad file descriptor" in report["frame"]["error"]["message"]
    assert not marker.exists()
