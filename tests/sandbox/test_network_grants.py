"""Network grants: the manifest is the ceiling, the config narrows; the kernel checks ports."""

from __future__ import annotations

import errno
import http.server
import socket
import threading

import pytest

from llf_host import SandboxDenied
from llf_host._tools import get_tool_runner
from llf_host.testing import isolated_host

from .conftest import PLUGINS


class _Hello(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"hello from loopback"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def web_server():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hello)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def other_listener():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(4)
        yield listener.getsockname()[1]


async def test_a_granted_destination_is_reachable(tmp_path, web_server):
    async with isolated_host(tmp_path / "home", plugins=[PLUGINS / "netty"]) as host:
        runner = get_tool_runner(host)
        result = await runner.call("fetch", {"url": f"http://127.0.0.1:{web_server}/"})
        assert result.result == "hello from loopback"
        info = runner.workers.workers()["netty"].info
        assert info.layers["netns"] == "not requested (network granted)"


async def test_a_host_outside_the_grant_is_denied(tmp_path, web_server):
    async with isolated_host(tmp_path / "home", plugins=[PLUGINS / "netty"]) as host:
        with pytest.raises(SandboxDenied) as info:
            await get_tool_runner(host).call("fetch", {"url": f"http://localhost:{web_server}/"})
    assert info.value.data["host"] == "localhost"
    assert '"localhost:' in info.value.hint


async def test_config_narrows_to_one_port_and_the_kernel_enforces_it(
    tmp_path, web_server, other_listener
):
    config = {"sandbox": {"grants": {"netty": {"network": [f"127.0.0.1:{web_server}"]}}}}
    async with isolated_host(tmp_path / "home", plugins=[PLUGINS / "netty"], config=config) as host:
        runner = get_tool_runner(host)
        assert (await runner.call("raw_connect", {"port": web_server})).result == "connected"
        refused = (await runner.call("raw_connect", {"port": other_listener})).result
        assert refused == f"refused errno {errno.EACCES}"  # Landlock, not the audit hook


async def test_a_grant_outside_the_manifest_is_ignored(tmp_path, web_server):
    config = {"sandbox": {"grants": {"netty": {"network": ["example.org:443"]}}}}
    async with isolated_host(tmp_path / "home", plugins=[PLUGINS / "netty"], config=config) as host:
        runner = get_tool_runner(host)
        grants = runner.workers.grants_for("netty")
        assert not grants.network.granted
        assert "outside its manifest" in grants.warnings[0]
        with pytest.raises(SandboxDenied):
            await runner.call("fetch", {"url": f"http://127.0.0.1:{web_server}/"})
