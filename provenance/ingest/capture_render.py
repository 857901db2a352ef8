"""A screenshot (PNG) and a PDF of a captured page, rendered by headless Chromium if present."""

from __future__ import annotations

import os
import shutil
import subprocess

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "chrome")
WIDTH, HEIGHT = 1280, 4000
RENDER_SECONDS = 60


def chromium() -> str | None:
    explicit = os.environ.get("PROV_CHROMIUM")
    if explicit is not None:
        return shutil.which(explicit) if explicit else None
    return next((p for p in map(shutil.which, CANDIDATES) if p), None)


def render(url: str, work: str) -> tuple[list[tuple[str, str, dict[str, str]]], str | None]:
    """[(path, role, detail)] for the screenshot and PDF made, and a note if any was not."""
    exe = chromium()
    if exe is None and os.environ.get("PROV_CHROMIUM") == "":
        return [], "no screenshot or PDF: turned off (PROV_CHROMIUM is set empty)"
    if exe is None:
        return [], ("no screenshot or PDF: Chromium is not installed (install chromium, or"
                    " set PROV_CHROMIUM to its path)")
    made: list[tuple[str, str, dict[str, str]]] = []
    problems = []
    base = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
            "--no-first-run", "--disable-extensions", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--disable-domain-reliability",
            "--run-all-compositor-stages-before-draw",
            f"--window-size={WIDTH},{HEIGHT}", f"--user-data-dir={work}/chromium-profile"]
    jobs = (("screenshot", os.path.join(work, "page.png"), "--screenshot="),
            ("pdf", os.path.join(work, "page.pdf"), "--print-to-pdf="))
    for role, path, flag in jobs:
        extra = ["--no-pdf-header-footer"] if role == "pdf" else []
        try:
            subprocess.run([*base, *extra, flag + path, url], capture_output=True,
                           timeout=RENDER_SECONDS, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            problems.append(f"{role}: {exc}")
            continue
        if os.path.exists(path) and os.path.getsize(path) > 0:
            made.append((path, role, {"renderer": os.path.basename(exe),
                                      "viewport": f"{WIDTH}x{HEIGHT}"}))
        else:
            problems.append(f"{role}: Chromium wrote nothing")
    return made, ("rendering: " + "; ".join(problems)) if problems else None
