"""Plain text and PDF exports, the format list, and redaction of key values."""

from __future__ import annotations

import importlib.util
import json
import re
import zlib

import pytest

from llf_host import ConfigError
from llf_host._redact import Redactor
from llf_host.testing import isolated_host

from .helpers import EXPORTERS
from .helpers import export_sync
from .helpers import load_exporters
from .helpers import sample

HAS_FPDF = importlib.util.find_spec("fpdf") is not None
SECRET = "sk-test-9f8e7d6c5b4a3210"


@pytest.fixture(scope="module")
def exporters():
    return load_exporters()


def test_formats_offered(exporters):
    expected = {"md", "json", "html", "txt"} | ({"pdf"} if HAS_FPDF else set())
    assert set(exporters) == expected
    for exporter in exporters.values():
        assert exporter.extension and exporter.media_type and exporter.description


def test_plain_text_shows_content_verbatim(exporters):
    text = export_sync(exporters["txt"], [sample()], branch="all").decode()
    assert text.startswith("Weather & <friends>\n===================\n")
    assert "\n[2 · user · 2024-05-01 10:40:01 UTC]\n    # Not a heading\n    <script>" in text
    assert "    tool call get_weather (call_1):\n" in text
    assert "[6 · assistant · 2024-05-01 10:40:05 UTC · reply to 2]" in text


@pytest.mark.skipif(not HAS_FPDF, reason="fpdf2 (the optional PDF dependency) is not installed")
def test_pdf_is_a_pdf_with_pages(exporters):
    data = export_sync(exporters["pdf"], [sample(), sample()], branch="all")
    assert data.startswith(b"%PDF-") and data.rstrip().endswith(b"%%EOF")
    pages = re.findall(rb"/Type\s*/Page\b", data)
    assert len(pages) >= 2  # one conversation per page at least
    streams = [
        zlib.decompress(m)
        for m in re.findall(rb"stream\r?\n(.*?)\r?\nendstream", data, re.S)
        if m[:1] == b"x"
    ]
    assert any(b"Tj" in s or b"TJ" in s for s in streams)  # text was drawn


@pytest.mark.skipif(not HAS_FPDF, reason="fpdf2 (the optional PDF dependency) is not installed")
def test_pdf_font_option_must_exist(exporters):
    with pytest.raises(ConfigError) as info:
        export_sync(exporters["pdf"], [sample()], font="/no/such/font.ttf")
    assert info.value.data["option"] == "font"


def with_secret():
    tree = sample()
    message = tree.messages[1]
    tree.messages[1] = type(message)(
        **{
            **{f: getattr(message, f) for f in message.__struct_fields__},
            "message": type(message.message)(role="user", content=f"my key is {SECRET}, ok?"),
            "metadata": {"token": SECRET},
        }
    )
    tree.conversation.title = f"about {SECRET}"
    return tree


async def test_exports_never_carry_a_registered_secret(tmp_path):
    async with isolated_host(tmp_path, plugins=[EXPORTERS]) as host:
        redactor = Redactor()
        redactor.register("OPENAI_API_KEY", SECRET)
        host.services["redactor"] = redactor
        for name in ("md", "json", "html", "txt"):
            exporter = host.registry.exporter(name).obj
            out = await exporter.export([with_secret()], {"include_metadata": True})
            assert SECRET.encode() not in out, name
            assert b"[REDACTED:OPENAI_API_KEY]" in out, name
        document = json.loads(await host.registry.exporter("json").obj.export([with_secret()], {}))
        assert document["conversations"][0]["messages"][1]["metadata"] == {
            "token": "[REDACTED:OPENAI_API_KEY]"
        }


async def test_without_a_redactor_content_is_unchanged(tmp_path):
    async with isolated_host(tmp_path, plugins=[EXPORTERS]) as host:
        out = await host.registry.exporter("md").obj.export([with_secret()], {})
        assert SECRET.encode() in out
