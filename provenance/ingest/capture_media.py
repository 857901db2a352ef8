"""Media on a captured page: the links the HTML names, and yt-dlp (as a library) for the rest."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urljoin, urlsplit

from provenance.ingest.capture_net import Limits

# What yt-dlp reports about a download that the collection record keeps.
INFO_KEYS = ("id", "title", "description", "uploader", "uploader_id", "uploader_url",
             "upload_date", "timestamp", "channel", "webpage_url", "extractor", "duration",
             "ext", "format_id", "width", "height")
OG_MEDIA = ("og:video", "og:video:url", "og:video:secure_url", "og:image", "og:image:url",
            "og:image:secure_url", "og:audio", "twitter:image", "twitter:player:stream")


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[tuple[str, str]] = []  # (url, why)
        self.title: str | None = None
        self._in_title = False
        self._media: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k.lower(): (v or "") for k, v in attrs}
        if tag in ("video", "audio"):
            self._media.append(tag)
            if a.get("src"):
                self.found.append((a["src"], f"<{tag}>"))
            if tag == "video" and a.get("poster"):
                self.found.append((a["poster"], "<video poster>"))
        elif tag == "source" and self._media and a.get("src"):
            self.found.append((a["src"], f"<{self._media[-1]}><source>"))
        elif tag == "img" and a.get("src"):
            self.found.append((a["src"], "<img>"))
        elif tag == "meta":
            prop = (a.get("property") or a.get("name") or "").lower()
            if prop in OG_MEDIA and a.get("content"):
                self.found.append((a["content"], f"<meta {prop}>"))
        elif tag == "title":
            self._in_title = True

    def handle_endtag(self, tag: str) -> None:
        if tag in ("video", "audio") and self._media:
            self._media.pop()
        elif tag == "title":
            self._in_title = False

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title = ((self.title or "") + data).strip()


@dataclass
class PageLinks:
    title: str | None
    media: list[tuple[str, str]]  # absolute http(s) URL, what named it
    dropped: int = 0  # beyond --max-media


def media_links(html: bytes, base: str, max_media: int) -> PageLinks:
    parser = _Links()
    with contextlib.suppress(Exception):  # a broken page still yields what was parsed
        parser.feed(html.decode("utf-8", errors="replace"))
    seen: set[str] = set()
    media: list[tuple[str, str]] = []
    for raw, why in parser.found:
        url = urljoin(base, raw.strip())
        if urlsplit(url).scheme.lower() not in ("http", "https") or url in seen:
            continue  # data:, blob:, javascript: are not fetched
        seen.add(url)
        media.append((url, why))
    return PageLinks(parser.title, media[:max_media], max(0, len(media) - max_media))


@dataclass
class Download:
    path: str
    url: str  # the media URL yt-dlp fetched
    info: dict[str, Any]


@dataclass
class Planned:
    """A media file yt-dlp chose and resolved, for prov's own fetcher to download (and record
    as a request and response in the WARC): one plain HTTP(S) file, no merging."""

    url: str
    info: dict[str, Any]
    referer: str | None = None  # as yt-dlp would send it (its generic extractor does)


@dataclass
class YtdlpOutcome:
    downloads: list[Download] = field(default_factory=list)
    planned: list[Planned] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


# Headers any fetch sends, and a Referer: a format needing others (cookies, tokens in
# headers) is left to yt-dlp's own downloader.
_PLAIN_HEADERS = {"user-agent", "accept", "accept-language", "accept-encoding",
                  "sec-fetch-mode", "referer"}


class _Log:
    def __init__(self) -> None:
        self.errors: list[str] = []
        self.warnings: list[str] = []

    def debug(self, msg: str) -> None:
        pass

    def info(self, msg: str) -> None:
        pass

    def warning(self, msg: str) -> None:
        self.warnings.append(msg)

    def error(self, msg: str) -> None:
        self.errors.append(msg)


def ffmpeg_present() -> bool:
    return shutil.which("ffmpeg") is not None


@contextlib.contextmanager
def _trusting(ca_file: str | None) -> Iterator[list[str]]:
    """yt-dlp takes no CA file; with one, it reads the system store plus that file."""
    if not ca_file:
        yield []
        return
    import certifi

    fd, bundle = tempfile.mkstemp(prefix="ca-", suffix=".pem")
    with os.fdopen(fd, "wb") as out:
        for part in (certifi.where(), ca_file):
            with open(part, "rb") as src:
                out.write(src.read() + b"\n")
    before = os.environ.get("SSL_CERT_FILE")
    os.environ["SSL_CERT_FILE"] = bundle
    try:
        yield ["no-certifi"]
    finally:
        if before is None:
            os.environ.pop("SSL_CERT_FILE", None)
        else:
            os.environ["SSL_CERT_FILE"] = before
        os.unlink(bundle)


def ytdlp(page_url: str, workdir: str, limits: Limits, *, user_agent: str,
          ca_file: str | None = None,
          progress: Callable[[int, int | None], None] | None = None,
          plan: bool = False) -> YtdlpOutcome:
    """Let yt-dlp find and download the page's media (site extractors, else its generic one).

    With `plan`, yt-dlp first only finds and resolves them (extractor, format selection,
    info); when every one is a single plain HTTP(S) file, they come back as `planned`, for
    the caller to fetch and record itself. Otherwise yt-dlp downloads them, as without."""
    import yt_dlp

    outcome = YtdlpOutcome()
    log = _Log()
    last = {"done": 0}

    def hook(d: dict[str, Any]) -> None:
        if progress and d.get("status") == "downloading":
            got = int(d.get("downloaded_bytes") or 0)
            progress(max(0, got - last["done"]), d.get("total_bytes"))
            last["done"] = got
        elif d.get("status") == "finished":
            last["done"] = 0

    merge = ffmpeg_present()
    with _trusting(ca_file) as compat:
        params: dict[str, Any] = {
            "outtmpl": os.path.join(workdir, "ytdlp-%(autonumber)s.%(ext)s"),
            "logger": log, "quiet": True, "noprogress": True, "cachedir": False,
            "max_filesize": limits.max_size, "socket_timeout": limits.timeout,
            "playlistend": limits.max_media, "progress_hooks": [hook],
            "http_headers": {"User-Agent": user_agent},
            # Without FFmpeg only single-file formats can be had; with it, the best of both.
            "format": "bv*+ba/b" if merge else "b",
            "compat_opts": compat, "noplaylist": False, "restrictfilenames": True,
            # Direct, like prov's own fetches: one route for everything the record covers.
            "proxy": "",
        }
        try:
            with yt_dlp.YoutubeDL(params) as ydl:
                if plan:
                    info = ydl.extract_info(page_url, download=False)
                    outcome.planned = _plannable(info)
                    if outcome.planned:
                        return outcome
                info = ydl.extract_info(page_url, download=True)
        except yt_dlp.utils.DownloadError as exc:
            text = str(exc)
            if "Unsupported URL" in text:
                outcome.notes.append("yt-dlp: no extractor found media on the page")
            elif "format is not available" in text and not merge:
                outcome.notes.append(
                    "yt-dlp: this site serves video and audio separately and FFmpeg is not"
                    " installed to merge them; install ffmpeg and capture again")
            else:
                outcome.notes.append(f"yt-dlp: {text.removeprefix('ERROR: ')}")
            return outcome
        except Exception as exc:  # noqa: BLE001 - a bug in an extractor must not stop capture
            outcome.notes.append(f"yt-dlp failed ({exc.__class__.__name__}: {exc}); the page"
                                 " and the media it names are captured without it")
            return outcome
    for entry in _entries(info):
        for path, url in _files(entry):
            if not os.path.exists(path):
                continue
            if os.path.getsize(path) > limits.max_size:
                # yt-dlp checks the size it is told up front; a stream that did not say is
                # checked here, after the fact.
                os.unlink(path)
                outcome.notes.append(f"yt-dlp: {url} is over --max-size"
                                     f" ({limits.max_size:,} bytes); not kept")
                continue
            outcome.downloads.append(Download(path, url, _info(entry)))
    if any("larger than max-filesize" in w for w in log.warnings + log.errors):
        outcome.notes.append(f"yt-dlp: a file over --max-size ({limits.max_size:,} bytes)"
                             " was not downloaded")
    return outcome


def _plannable(info: Any) -> list[Planned]:
    """Every entry as one plain HTTP(S) file prov can fetch as yt-dlp would; else none."""
    planned = []
    for entry in _entries(info):
        headers = {k.lower() for k in entry.get("http_headers") or {}}
        if (entry.get("requested_formats") or entry.get("protocol") not in ("http", "https")
                or not entry.get("url") or headers - _PLAIN_HEADERS or entry.get("cookies")):
            return []
        referer = {k.lower(): v for k, v in entry["http_headers"].items()}.get("referer") if (
            entry.get("http_headers")) else None
        planned.append(Planned(str(entry["url"]), _info(entry), referer))
    return planned


def _entries(info: Any) -> Iterator[dict[str, Any]]:
    if not isinstance(info, dict):
        return
    if info.get("_type") in ("playlist", "multi_video"):
        for entry in info.get("entries") or []:
            yield from _entries(entry)
    else:
        yield info


def _files(entry: dict[str, Any]) -> Iterator[tuple[str, str]]:
    requested = entry.get("requested_downloads") or []
    for d in requested:
        path = d.get("filepath") or d.get("_filename")
        if path:
            yield path, d.get("url") or entry.get("url") or entry.get("webpage_url") or ""


def _info(entry: dict[str, Any]) -> dict[str, Any]:
    out = {k: entry[k] for k in INFO_KEYS if entry.get(k) not in (None, "")}
    import yt_dlp.version

    out["yt_dlp_version"] = yt_dlp.version.__version__
    return out
