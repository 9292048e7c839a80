"""Nothing a plugin writes to stdout reaches the wire: print(), os.write(1), C code, children."""

from __future__ import annotations

from pathlib import Path

from .conftest import NOISY_PLUGIN
from .conftest import RawServer
from .conftest import serve_environ
from .conftest import write_plugin


async def test_noisy_plugin_cannot_corrupt_the_stream(serve_home: Path, tmp_path: Path) -> None:
    write_plugin(serve_home, "noisy", NOISY_PLUGIN)
    stderr_path = tmp_path / "stderr.txt"
    with stderr_path.open("wb") as stderr:
        server = await RawServer.spawn(serve_environ(serve_home, "mockprov,noisy"), stderr=stderr)
        try:
            init = await server.initialize()
            plugins = {p["name"]: p["status"] for p in init["result"]["plugins"]}
            assert plugins["mockprov"] == "ok"
            assert plugins["noisy"] == "ok"
            models = (await server.call("models/list"))["result"]
            assert "noisy/chatter" in [m["id"] for m in models["models"]]
            chat = await server.call(
                "chat/complete",
                {
                    "model": "noisy/chatter",
                    "messages": [{"role": "user", "content": "hi"}],
                    "stream": {"token": "t"},
                },
            )
            assert chat["result"]["message"]["content"] == "still fine"
            for i in range(50):
                assert (await server.call("host/echo", {"value": i}))["result"] == {"value": i}
            server.notify("exit")
            await server.wait_exit()
        finally:
            await server.aclose()
    # Every byte on stdout was a well-formed frame, and every message a JSON-RPC one.
    assert server.frame_errors == []
    assert all(m.get("jsonrpc") == "2.0" for m in server.messages)
    noise = stderr_path.read_text()
    for line in (
        "noisy: print() at import",
        "noisy: os.write(1) at import",
        "noisy: C write(1) at import",
        "noisy: child process at import",
        "noisy: print() in list_models",
        "noisy: print() in chat",
        "garbage on fd 1",
        "C garbage",
        "noisy: child in chat",
    ):
        assert line in noise
