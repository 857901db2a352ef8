"""A direct link's body written into the capture's WACZ as it downloads, not copied after.

Once the last byte of a video is in, only the small members (the digests' record, the
index, pages, datapackage) remain to be written: the copy into the WARC, its CRC and the
SHA-256/MD5 of the WARC and of the WACZ were taken while the bytes arrived."""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Callable, Iterator
from typing import Any

from provenance.ingest.capture_net import REDIRECTS, Hop
from provenance.ingest.warc_pack import Wacz

_HTML = re.compile(rb"<!doctype\s+html|<html[\s>]|<head[\s>]|<body[\s>]", re.I)


def is_html(head: bytes) -> bool:
    """Decided from the bytes, not the Content-Type header (servers lie)."""
    return bool(_HTML.search(head[:4096]))


def warc_date(at: str) -> str:
    """A fetch's UTC time as the WARC writes it (microseconds at most)."""
    return at.replace("Z", "")[:26] + "Z"


def wacz_path(work: str, started: str) -> str:
    return os.path.join(work, f"capture-{started[:19].replace(':', '')}.wacz")


def open_wacz(path: str, url: str, env: dict[str, Any], expected: int) -> Wacz:
    """The capture's WACZ, its warcinfo record written; `expected`: the bytes it will hold."""
    wacz = Wacz(path, software=f"prov {env['tools']['prov']} (warcio {env['tools']['warcio']})",
                expected_size=expected)
    try:
        wacz.warcinfo({"software": wacz.software, "format": "WARC File Format 1.1",
                       "operator": env.get("investigator") or "", "isPartOf": url})
    except BaseException:
        wacz.abort()
        raise
    return wacz


class Streamer:
    """Makes the tee (capture_net.Tee) for a fetch after which the WACZ will hold nothing
    more of size: the capture's first fetch (a direct link: nothing follows it) and the
    last media fetch of a page. A response that is not a page opens the WACZ (the exchanges
    before it written first, in order) and goes into it as it arrives. A page, a redirect,
    an error and a body of unknown length are fetched to a file and packed afterwards."""

    def __init__(self, path: str, url: str, env: dict[str, Any]) -> None:
        self.path, self.url, self.env = path, url, env
        self.wacz: Wacz | None = None

    def offer(self, exchanges: list[tuple[Hop, str]], at: str, extra: int
              ) -> Callable[[Hop, list[Hop]], Callable[[Iterator[bytes]], None] | None]:
        """The tee for a fetch begun at `at`, after `exchanges`; `extra`: the bytes of the
        files the WACZ will also hold (yt-dlp's downloads, renderings)."""

        def tee(hop: Hop, before: list[Hop]) -> Callable[[Iterator[bytes]], None] | None:
            if (self.wacz is not None or hop.declared is None or not 200 <= hop.status < 300
                    or hop.status in REDIRECTS or is_html(hop.head)):
                return None
            earlier = [*exchanges, *((h, at) for h in before)]  # the redirects that led here
            wacz = self.wacz = open_wacz(
                self.path, self.url, self.env,
                sum(h.block_size for h, _ in earlier) + hop.declared + extra)
            for h, when in earlier:
                wacz.exchange(h, warc_date(when))
            return lambda chunks: wacz.stream_response(hop, warc_date(at), chunks)

        return tee

    def abort(self) -> None:
        """The capture failed: stop writing the WACZ (its folder is removed by the caller)."""
        if self.wacz is not None:
            self.wacz.abort()

    def discard(self) -> None:
        """A streamed body failed part way: the WACZ begun for it is given up (abandoned,
        its file removed), so nothing cut short is packed; the next WACZ starts afresh."""
        if self.wacz is not None:
            try:
                self.wacz.abort()
            finally:
                self.wacz = None
                with contextlib.suppress(OSError):
                    os.unlink(self.path)
