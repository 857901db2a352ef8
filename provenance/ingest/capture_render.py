"""A screenshot (PNG) and a PDF of a captured page, rendered by headless Chromium if present.

The screenshot is the whole page, not a window: Chromium is driven over its DevTools protocol,
the page's laid-out size is read (`Page.getLayoutMetrics`) and captured beyond the viewport,
up to MAX_HEIGHT pixels (the record says so when a page is taller)."""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import time
from typing import Any

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "chrome")
WIDTH, HEIGHT = 1280, 4000  # the PDF's window, as before
VIEW_HEIGHT = 900  # the screenshot's window; the page beyond it is captured too
# Chromium paints one capture into one image; far beyond 16384 px it starts repeating or
# leaving tiles blank, and a PNG that tall is already ~60 MB of pixels.
MAX_WIDTH, MAX_HEIGHT = 4096, 16384
RENDER_SECONDS = 60

Made = list[tuple[str, str, dict[str, Any]]]


def chromium() -> str | None:
    explicit = os.environ.get("PROV_CHROMIUM")
    if explicit is not None:
        return shutil.which(explicit) if explicit else None
    return next((p for p in map(shutil.which, CANDIDATES) if p), None)


def render(url: str, work: str) -> tuple[Made, str | None]:
    """[(path, role, detail)] for the screenshot and PDF made, and a note if any was not."""
    exe = chromium()
    if exe is None and os.environ.get("PROV_CHROMIUM") == "":
        return [], "no screenshot or PDF: turned off (PROV_CHROMIUM is set empty)"
    if exe is None:
        return [], ("no screenshot or PDF: Chromium is not installed (install chromium, or"
                    " set PROV_CHROMIUM to its path)")
    made: Made = []
    problems: list[str] = []
    path = os.path.join(work, "page.png")
    try:
        detail, capped = screenshot(exe, url, path, os.path.join(work, "chromium-shot"))
    except (OSError, RuntimeError) as exc:
        problems.append(f"screenshot: {exc}")
    else:
        made.append((path, "screenshot", detail))
        if capped:
            problems.append(capped)
    pdf = _pdf(exe, url, work)
    if isinstance(pdf, str):
        problems.append(pdf)
    else:
        made.append(pdf)
    return made, ("rendering: " + "; ".join(problems)) if problems else None


def screenshot(exe: str, url: str, path: str, profile: str) -> tuple[dict[str, Any], str | None]:
    """The whole page as a PNG at `path`: (detail for the record, a note if it was capped)."""
    from provenance.ingest.cdp import Browser

    end = time.monotonic() + RENDER_SECONDS
    with Browser(exe, profile, window=(WIDTH, VIEW_HEIGHT)) as browser:
        browser.open("about:blank")
        browser.navigate(url, RENDER_SECONDS)
        metrics = browser.send("Page.getLayoutMetrics")
        content = metrics.get("cssContentSize") or metrics["contentSize"]
        view = metrics.get("cssLayoutViewport") or metrics["layoutViewport"]
        page_w = max(int(view["clientWidth"]), math.ceil(content["width"]))
        page_h = max(int(view["clientHeight"]), math.ceil(content["height"]))
        width, height = min(page_w, MAX_WIDTH), min(page_h, MAX_HEIGHT)
        png = browser.screenshot({"x": 0, "y": 0, "width": width, "height": height},
                                 beyond_viewport=True,
                                 timeout=max(5.0, end - time.monotonic()))
    with open(path, "wb") as f:
        f.write(png)
    capped = None
    if (width, height) != (page_w, page_h):
        capped = (f"screenshot: the page is {page_w}x{page_h} px; only the top-left"
                  f" {width}x{height} px were captured (the limit is"
                  f" {MAX_WIDTH}x{MAX_HEIGHT})")
    detail = {"renderer": os.path.basename(exe), "method": "DevTools Page.captureScreenshot,"
              " beyond the viewport", "window": f"{WIDTH}x{VIEW_HEIGHT}",
              "page_size": f"{page_w}x{page_h}", "captured_size": f"{width}x{height}",
              "capped": capped is not None}
    return detail, capped


def _pdf(exe: str, url: str, work: str) -> tuple[str, str, dict[str, Any]] | str:
    path = os.path.join(work, "page.pdf")
    cmd = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
           "--no-first-run", "--disable-extensions", "--disable-background-networking",
           "--disable-component-update", "--disable-sync", "--disable-domain-reliability",
           "--run-all-compositor-stages-before-draw",
           f"--window-size={WIDTH},{HEIGHT}", f"--user-data-dir={work}/chromium-profile",
           "--no-pdf-header-footer", f"--print-to-pdf={path}", url]
    try:
        subprocess.run(cmd, capture_output=True, timeout=RENDER_SECONDS, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"pdf: {exc}"
    if os.path.exists(path) and os.path.getsize(path) > 0:
        return path, "pdf", {"renderer": os.path.basename(exe), "viewport": f"{WIDTH}x{HEIGHT}"}
    return "pdf: Chromium wrote nothing"
