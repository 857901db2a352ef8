"""A minimal Chrome DevTools Protocol client over `--remote-debugging-pipe`: load a page in
headless Chromium, evaluate JavaScript, click, and take screenshots (the full page for
`prov capture`), with no library beyond the standard one (no websocket client needed)."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

from provenance.media.document import readable

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars", "--disable-dev-shm-usage", "--disable-extensions",
         "--disable-domain-reliability"]


class BrowserError(RuntimeError):
    """The browser refused a command, went away, or did not answer in time."""


class Browser:
    """One Chromium; the protocol runs over its file descriptors 3 (commands) and 4 (replies),
    each message JSON ending in a NUL byte."""

    def __init__(self, chromium: str, profile: Path | str, *,
                 window: tuple[int, int] = (1100, 1400)) -> None:
        cmd_r, self._cmd_w = os.pipe()
        self._res_r, res_w = os.pipe()

        def child() -> None:
            # Through fresh duplicates: dup2 onto the same number would keep close-on-exec.
            a, b = os.dup(cmd_r), os.dup(res_w)
            os.dup2(a, 3)
            os.dup2(b, 4)

        try:
            self.proc = subprocess.Popen(
                [chromium, *FLAGS, "--remote-debugging-pipe", f"--user-data-dir={profile}",
                 f"--window-size={window[0]},{window[1]}", "about:blank"],
                preexec_fn=child, close_fds=False, stdin=subprocess.DEVNULL,  # noqa: PLW1509
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        except BaseException:
            for fd in (cmd_r, res_w, self._cmd_w, self._res_r):
                os.close(fd)
            raise
        os.close(cmd_r)
        os.close(res_w)
        self._buf = b""
        self._id = 0
        self.session: str | None = None

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def send(self, method: str, params: dict[str, Any] | None = None, *,
             timeout: float = 60) -> Any:
        self._id += 1
        msg: dict[str, Any] = {"id": self._id, "method": method, "params": params or {}}
        if self.session and not method.startswith(("Target.", "Browser.")):
            msg["sessionId"] = self.session
        try:
            os.write(self._cmd_w, json.dumps(msg).encode() + b"\0")
        except OSError as exc:
            raise BrowserError(f"{method}: the browser went away ({exc.strerror})") from exc
        end = time.monotonic() + timeout
        while True:
            while b"\0" in self._buf:
                raw, self._buf = self._buf.split(b"\0", 1)
                reply = json.loads(raw)
                if reply.get("id") == self._id:
                    if "error" in reply:
                        raise BrowserError(f"{method}: {reply['error']}")
                    return reply["result"]
            left = end - time.monotonic()
            if left <= 0:
                raise BrowserError(f"{method}: no answer in {timeout:g} s")
            if readable(self._res_r, left):
                chunk = os.read(self._res_r, 1 << 16)
                if not chunk:
                    raise BrowserError(f"{method}: the browser went away")
                self._buf += chunk

    def open(self, url: str) -> None:
        target = self.send("Target.createTarget", {"url": url})["targetId"]
        self.session = self.send("Target.attachToTarget",
                                 {"targetId": target, "flatten": True})["sessionId"]

    def navigate(self, url: str, timeout: float = 60) -> None:
        """Load `url` in the open tab and wait for its load event (images included).

        Through Page.navigate, which answers once the new document is committed: a page
        opened by Target.createTarget starts as about:blank, whose readyState is already
        'complete', so waiting on readyState alone can read the blank page."""
        end = time.monotonic() + timeout
        went = self.send("Page.navigate", {"url": url}, timeout=timeout)
        if went.get("errorText"):
            raise BrowserError(f"{url}: {went['errorText']}")
        self.wait_for("document.readyState === 'complete'", max(1.0, end - time.monotonic()))

    def js(self, expression: str) -> Any:
        result = self.send("Runtime.evaluate", {"expression": expression,
                                                "returnByValue": True, "awaitPromise": True})
        if "exceptionDetails" in result:
            raise BrowserError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 60) -> None:
        end = time.monotonic() + timeout
        while not self.js(expression):
            if time.monotonic() > end:
                raise BrowserError(f"never true in the page within {timeout:g} s: {expression}")
            time.sleep(0.1)

    def click(self, x: float, y: float) -> None:
        """A real mouse click: press and release of the left button at (x, y)."""
        for kind in ("mouseMoved", "mousePressed", "mouseReleased"):
            self.send("Input.dispatchMouseEvent", {"type": kind, "x": x, "y": y,
                                                   "button": "left", "clickCount": 1})

    def screenshot(self, clip: dict[str, float], *, beyond_viewport: bool = False,
                   timeout: float = 60) -> bytes:
        shot = self.send("Page.captureScreenshot", {
            "format": "png", "clip": {**clip, "scale": 1},
            "captureBeyondViewport": beyond_viewport}, timeout=timeout)
        return base64.b64decode(shot["data"])

    def close(self) -> None:
        try:
            self.send("Browser.close", timeout=10)
        except (BrowserError, OSError):
            self.proc.kill()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=30)
        os.close(self._cmd_w)
        os.close(self._res_r)
