"""End to end: `prov serve` as a real server, an item page in a real headless Chromium."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.servecase import build

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars", "--disable-dev-shm-usage"]
DOCS = Path(__file__).resolve().parent.parent / "docs"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed"),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str, timeout: float) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - localhost
        return bytes(response.read())


def _wait_for(url: str, server: subprocess.Popen[bytes], deadline: float) -> None:
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise AssertionError(f"prov serve exited: {server.stderr.read().decode()}"
                                 if server.stderr else "prov serve exited")
        try:
            _get(url, 2)
            return
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"prov serve did not answer at {url}")


def _chromium(tmp: Path, *args: str) -> str:
    profile = tmp / f"profile-{len(list(tmp.glob('profile-*')))}"
    result = subprocess.run(
        [str(CHROMIUM), *FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def test_item_page_in_a_real_browser(tmp_path: Path) -> None:
    from PIL import Image

    case = build(tmp_path / "case")
    port = _free_port()
    env = {**os.environ, "PROV_INVESTIGATOR": "ana"}
    server = subprocess.Popen(
        [sys.executable, "-m", "provenance", "--db", str(case.db), "serve", "--port", str(port)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_for(base + "/-/versions.json", server, time.monotonic() + 60)
        page = f"{base}/evidence/-/item/{case.arrival}"
        # The first report may build the gazetteer cache; let that finish before the browser.
        assert case.arrival.encode() in _get(page, 180)

        dom = _chromium(tmp_path, "--virtual-time-budget=5000", "--dump-dom", page)
        assert f'<img class="thumbnail" src="/evidence/-/thumb/{case.arrival}"' in dom
        assert "published by @frontline_channel" in dom and "downloaded to CNN" in dom
        assert '<svg class="prov-map"' in dom and 'class="point claim"' in dom
        assert 'class="point gps"' in dom

        shot = tmp_path / "item-page.png"
        _chromium(tmp_path, "--window-size=1100,2300", "--virtual-time-budget=5000",
                  f"--screenshot={shot}", page)
        with Image.open(shot) as img:
            assert img.size == (1100, 2300)
            # Text and flat colours give a few hundred colours; a decoded photo, thousands.
            top_left = img.convert("RGB").crop((0, 0, 550, 750))
            colours = top_left.getcolors(maxcolors=1 << 20) or []
            assert len(colours) > 2000, "the thumbnail did not render"
        if os.environ.get("PROV_UPDATE_DOCS"):
            DOCS.mkdir(exist_ok=True)
            shutil.copy(shot, DOCS / "item-page.png")
    finally:
        server.terminate()
        server.wait(timeout=10)


def _page_of(markdown: str) -> str:
    """Markdown as a permissive renderer publishes it: raw HTML allowed, GFM tables."""
    from markdown_it import MarkdownIt

    body = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"]).render(
        markdown)
    return f"<!DOCTYPE html><html><head><title>export</title></head><body>{body}</body></html>"


def test_a_rendered_markdown_export_runs_no_script(tmp_path: Path) -> None:
    pytest.importorskip("markdown_it")
    from tests.conftest import invoke
    from tests.hostile import hostilecase as hc

    # The harness first: the same payloads, unescaped, do run in this browser.
    control = tmp_path / "control.html"
    control.write_text(_page_of(f"{hc.SCRIPT}\n\n{hc.IMG}\n"), encoding="utf-8")
    dom = _chromium(tmp_path, "--virtual-time-budget=3000", "--dump-dom", control.as_uri())
    assert "<title>PWNED</title>" in dom

    case = hc.build(tmp_path / "hostile")
    export = invoke(case.db, "export", case.photo, "--format", "md", check=True).stdout
    page = tmp_path / "export.html"
    page.write_text(_page_of(export), encoding="utf-8")
    dom = _chromium(tmp_path, "--virtual-time-budget=3000", "--dump-dom", page.as_uri())
    assert "<title>export</title>" in dom and "PWNED</title>" not in dom
    assert "<img" not in dom and "<script" not in dom and "<a " not in dom
    assert "&lt;script&gt;document.title='PWNED'&lt;/script&gt;" in dom  # shown, as text
