"""End to end: an item flagged graphic stays blurred in a real headless Chromium until a mouse
click on it, on the item page and in a table of thumbnails."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from provenance.ingest.cdp import Browser
from tests.conftest import invoke
from tests.test_serve_browser import CHROMIUM, _free_port, _wait_for

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed"),
]

IMG = "document.querySelector('img.thumbnail')"


def _look(png: bytes) -> tuple[bool, int]:
    """(grey?, the largest step between neighbouring pixels) of a screenshot."""
    from PIL import Image, ImageChops

    with Image.open(io.BytesIO(png)) as img:
        r, g, b = img.convert("RGB").split()
    grey = (ImageChops.difference(r, g).getbbox() is None
            and ImageChops.difference(g, b).getbbox() is None)
    w, h = g.size
    step = ImageChops.difference(g.crop((1, 0, w, h)), g.crop((0, 0, w - 1, h)))
    return grey, int(step.getextrema()[1])


def _rect(browser: Browser, selector: str) -> dict[str, float]:
    box = browser.js(f"(() => {{ const r = {selector}.getBoundingClientRect();"
                     " return {x: r.x, y: r.y, width: r.width, height: r.height}; })()")
    # Inside the border, so the screenshot is the picture alone.
    return {"x": box["x"] + 2, "y": box["y"] + 2, "width": box["width"] - 4,
            "height": box["height"] - 4}


def _reveals(browser: Browser) -> int:
    return int(browser.js("performance.getEntriesByType('resource')"
                          ".filter(e => e.name.endsWith('?reveal=1')).length"))


def test_a_flagged_item_is_blurred_until_clicked(db: Path, photo_item: Any,
                                                 tmp_path: Path) -> None:
    graphic = photo_item(seed=21, name="graphic.jpg")
    invoke(db, "flag", graphic, "graphic-violence", check=True)
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "provenance", "--db", str(db), "serve", "--port", str(port)],
        env={**os.environ, "PROV_INVESTIGATOR": "ana"}, stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE)
    browser = None
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_for(base + "/-/versions.json", server, time.monotonic() + 60)
        browser = Browser(str(CHROMIUM), tmp_path / "profile")
        browser.open(f"{base}/evidence/-/item/{graphic}")
        browser.wait_for(f"{IMG} && {IMG}.complete && {IMG}.naturalWidth > 0", 180)
        assert browser.js(f"{IMG}.className") == "thumbnail sensitive"
        grey, edge = _look(browser.screenshot(_rect(browser, IMG)))
        assert grey and edge <= 3, (grey, edge)
        assert _reveals(browser) == 0  # the real picture was never fetched

        box = _rect(browser, IMG)
        browser.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        browser.wait_for(f"{IMG}.src.endsWith('?reveal=1') && {IMG}.complete"
                         f" && {IMG}.naturalWidth > 0")
        time.sleep(0.3)  # the decoded picture painted
        grey, edge = _look(browser.screenshot(_rect(browser, IMG)))
        assert not grey and edge >= 20, (grey, edge)
        assert _reveals(browser) == 1
        assert "shown at your request" in browser.js("document.querySelector('figcaption')"
                                                     ".textContent")

        # A table of thumbnails: blurred there too, until that thumbnail is clicked.
        browser.open(f"{base}/evidence/item_workflow")
        cell = "document.querySelector('td img')"
        browser.wait_for(f"{cell} && {cell}.complete && {cell}.naturalWidth > 0", 60)
        small = _rect(browser, cell)
        assert _look(browser.screenshot(small))[0]
        browser.click(small["x"] + small["width"] / 2, small["y"] + small["height"] / 2)
        browser.wait_for(f"{cell}.src.endsWith('?reveal=1') && {cell}.complete"
                         f" && {cell}.naturalWidth > 0")
        time.sleep(0.3)
        assert not _look(browser.screenshot(_rect(browser, cell)))[0]
    finally:
        if browser is not None:
            browser.close()
        server.terminate()
        server.wait(timeout=10)
