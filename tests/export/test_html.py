"""HTML export: self-contained, safe, highlighted, and rendered by a real browser."""

from __future__ import annotations

import os
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from .helpers import export_sync
from .helpers import load_exporters
from .helpers import sample

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
needs_chromium = pytest.mark.skipif(
    not os.access(CHROMIUM, os.X_OK),
    reason="Debian chromium is not installed (apt-get install chromium, or .ci/system-deps.sh)",
)
#: Elements and attributes that could make the page fetch something.
FETCHING_TAGS = {"script", "link", "img", "iframe", "object", "embed", "video", "audio", "source"}
FETCHING_ATTRS = {"src", "href", "srcset", "action", "poster", "data"}


@pytest.fixture(scope="module")
def html_exporter():
    return load_exporters()["html"]


class Collector(HTMLParser):
    """Tags, attributes and the text of each message article."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.messages: list[dict[str, str]] = []
        self._depth = 0
        self.style = ""
        self._in_style = False

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        self.tags.append((tag, attributes))
        if tag == "style":
            self._in_style = True
        if tag == "article":
            self.messages.append(
                {
                    "role": attributes.get("data-role") or "",
                    "id": attributes.get("data-id") or "",
                    "text": "",
                }
            )
            self._depth = 1
        elif self._depth:
            self._depth += 1

    def handle_endtag(self, tag):
        if tag == "style":
            self._in_style = False
        if self._depth:
            self._depth -= 1

    def handle_data(self, data):
        if self._in_style:
            self.style += data
        if self._depth and self.messages:
            self.messages[-1]["text"] += data


def collect(html_text: str) -> Collector:
    parser = Collector()
    parser.feed(html_text)
    return parser


def words(text: str) -> str:
    return " ".join(text.split())


def test_page_is_self_contained(html_exporter):
    page = collect(export_sync(html_exporter, [sample()], branch="all").decode())
    tags = {tag for tag, _attrs in page.tags}
    assert not tags & FETCHING_TAGS
    assert not [attrs for _t, attrs in page.tags if FETCHING_ATTRS & set(attrs)]
    assert "url(" not in page.style and "@import" not in page.style
    csp = [
        a for t, a in page.tags if t == "meta" and a.get("http-equiv") == "Content-Security-Policy"
    ]
    assert csp and "default-src 'none'" in (csp[0]["content"] or "")


def test_messages_and_code_are_in_the_page(html_exporter):
    page = collect(export_sync(html_exporter, [sample()], branch="all").decode())
    assert [m["id"] for m in page.messages] == ["m1", "m2", "m3", "m4", "m5", "m6"]
    user = page.messages[1]
    assert "<script>document.body.dataset.pwned = 1</script>" in user["text"]
    assert "print('hi')" in user["text"]
    assert "get_weather" in page.messages[2]["text"]


def test_code_is_highlighted_with_and_without_pygments(html_exporter):
    with_pygments = export_sync(html_exporter, [sample()]).decode()
    assert '<pre class="hl" data-lang="python"><code><span class="nb">print</span>' in with_pygments
    builtin = export_sync(html_exporter, [sample()], highlight="builtin").decode()
    assert "<code>print(<span class=\"s\">'hi'</span>)</code>" in builtin
    plain = export_sync(html_exporter, [sample()], highlight="none").decode()
    assert "<code>print('hi')</code>" in plain


def chromium(*args: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--user-data-dir={tmp_path / 'profile'}",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@needs_chromium
def test_a_real_browser_renders_the_messages(html_exporter, tmp_path):
    page_file = tmp_path / "export.html"
    page_file.write_bytes(export_sync(html_exporter, [sample()], branch="all"))
    done = chromium("--dump-dom", page_file.as_uri(), tmp_path=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    dom = collect(done.stdout)
    rendered = {m["id"]: words(m["text"]) for m in dom.messages}
    for message in sample().messages:
        assert message.id in rendered
        if message.message.content:
            assert words(message.message.content.replace("```python", "").replace("```", "")) in (
                rendered[message.id].replace("python ", "", 1)
            )
    # The <script> in a message is text: the browser did not run it.
    assert not [a for t, a in dom.tags if "data-pwned" in a]
    assert not [t for t, _a in dom.tags if t == "script"]

    shot = tmp_path / "shot.png"
    done = chromium(
        f"--screenshot={shot}", "--window-size=1000,1400", page_file.as_uri(), tmp_path=tmp_path
    )
    assert done.returncode == 0, done.stderr[-2000:]
    data = shot.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    image = pytest.importorskip("PIL.Image")
    with image.open(shot) as picture:
        colours = picture.convert("RGB").getcolors(maxcolors=1_000_000)
    assert colours is not None and len(colours) > 50  # text, boxes and highlighting: not blank
