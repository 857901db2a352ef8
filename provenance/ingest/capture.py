"""`prov capture`: one URL fetched, archived as a WACZ, its media registered, and the
collection record (who, when, from where, with what) written as one `capture.recorded` event."""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

from provenance.case import analysis_state
from provenance.errors import BadInput, ProvError
from provenance.ingest import capture_env, capture_media, capture_net
from provenance.ingest.analysis import analyse, discard
from provenance.ingest.capture_net import Hop, Limits
from provenance.ingest.capture_stream import Streamer, is_html, open_wacz, wacz_path, warc_date
from provenance.ingest.register import AddResult, Sighting, check_new_item, register
from provenance.ingest.stream_hash import hash_file
from provenance.ingest.warc_pack import Packed
from provenance.ledger import log
from provenance.ledger.db import db_path_of, now_utc, store_dir, transaction
from provenance.ledger.event import Event
from provenance.ledger.evidence import EvidenceStore

Progress = Callable[[int, int | None], None]


@dataclass(frozen=True)
class CaptureOptions:
    case: str | None = None
    title: str | None = None
    note: str | None = None
    persona: str | None = None
    vpn: str | None = None
    limits: Limits = Limits()
    ca_file: str | None = None
    render: bool = True  # screenshot and PDF when Chromium is installed


@dataclass
class Collected:
    """One file a capture will register: where it came from and what was said about it."""

    path: str
    role: str  # media | screenshot | pdf
    url: str
    seen_at: str
    origin: dict[str, Any]
    sha256: str | None = None
    md5: str | None = None  # with sha256 and size: hashed as it was downloaded
    size: int | None = None
    exchange: bool = False  # fetched by prov: in the WARC as the response it was


@dataclass
class CaptureResult:
    url: str
    status: str  # captured | gone | error
    error: str | None = None
    capture: int | None = None
    archive: str | None = None
    files: list[dict[str, Any]] = field(default_factory=list)
    changes: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    items: list[AddResult] = field(default_factory=list)
    # Items of this capture whose perceptual analysis is pending (videos, sounds, documents
    # registered before it): `prov analyse` (ingest/deferred.py) records it, item.analysed.
    pending: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)  # seconds per stage (bench)

    def to_json(self) -> dict[str, Any]:
        return {"url": self.url, "status": self.status, "error": self.error,
                "capture": self.capture, "archive": self.archive, "files": self.files,
                "changes": self.changes, "notes": self.notes, "analysis_pending": self.pending}


def capture(conn: sqlite3.Connection, url: str, opts: CaptureOptions, *, by: str,
            progress: Progress | None = None) -> CaptureResult:
    """Capture one URL. Raises BadInput (nothing recorded) when the page cannot be had."""
    capture_net.check_scheme(url)
    store = store_dir(db_path_of(conn))
    store.mkdir(exist_ok=True)
    work = tempfile.mkdtemp(prefix="capture-", dir=store)
    began = time.perf_counter()
    try:
        result = _capture(conn, url, opts, by, work, progress)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if "committed" in result.timings:  # seconds from the start until the record committed
        result.timings["committed"] -= began
    return result


def _capture(conn: sqlite3.Connection, url: str, opts: CaptureOptions, by: str, work: str,
             progress: Progress | None) -> CaptureResult:
    env = capture_env.environment(opts.ca_file)
    context = capture_net.lazy_tls_context(opts.ca_file)
    started = now_utc()
    fetch = _Fetcher(opts.limits, env["user_agent"], context, work, progress)
    # A direct link's body goes into the WACZ as it arrives (capture_stream.py).
    fetch.streamer = Streamer(wacz_path(work, started), url, env)
    try:
        return _collect(conn, url, opts, by, work, env, started, fetch)
    except BaseException:
        fetch.streamer.abort()
        raise


def _collect(conn: sqlite3.Connection, url: str, opts: CaptureOptions, by: str, work: str,
             env: dict[str, Any], started: str, fetch: _Fetcher) -> CaptureResult:
    clock = time.perf_counter()
    page = fetch(url)
    final = page.final
    earlier = previous(conn, url)
    result = CaptureResult(url, "captured")
    if env["proxies"]:
        result.notes.append("proxy settings in the environment are not used: prov capture"
                            " connects directly (recorded under 'proxies')")
    gone = final.status in (404, 410)
    if gone and earlier is None and not served_before(conn, url):
        raise BadInput(url, f"HTTP {final.status} {final.reason}: nothing to capture"
                       " (nothing was recorded)")
    if final.status >= 400 and not gone:
        raise BadInput(url, f"HTTP {final.status} {final.reason} (nothing was recorded)")
    collected: list[Collected] = []
    gone_media: list[dict[str, Any]] = []
    title = None
    if gone:
        result.status = "gone"
    elif is_html(final.head):
        links = capture_media.media_links(_read(final), final.url, opts.limits.max_media)
        title = links.title
        if links.dropped:
            result.notes.append(f"{links.dropped} more media link(s) beyond --max-media"
                                f" {opts.limits.max_media} were not fetched")
        # yt-dlp chooses and resolves the media; a single plain HTTP(S) file is then fetched
        # by prov (recorded as an exchange, with address and TLS, and streamed into the
        # WACZ if last); others (merged, HLS, DASH, cookies) yt-dlp downloads itself.
        yt = capture_media.ytdlp(final.url, work, opts.limits, user_agent=env["user_agent"],
                                 ca_file=opts.ca_file, progress=fetch.progress, plan=True)
        result.notes.extend(yt.notes)
        for d in yt.downloads:
            collected.append(Collected(d.path, "media", d.url, now_utc(),
                                       {"via": "yt-dlp", "yt_dlp": d.info}))
        taken = {c.url for c in collected} | {p.url for p in yt.planned}
        for link, why in links.media:
            if link in taken:
                continue
            _media_by_link(conn, fetch, link, why, collected, gone_media, result)
        if opts.render:
            collected.extend(_render(final.url, work, result))
        result.timings["before_media"] = time.perf_counter() - clock
        failed = []
        for n, planned in enumerate(yt.planned):  # the largest files, so last
            files = (sum(os.path.getsize(c.path) for c in collected if not c.exchange)
                     if n == len(yt.planned) - 1 else None)
            if _media_by_link(conn, fetch, planned.url, "yt-dlp", collected, gone_media,
                              result, planned=planned, last=files) == "failed":
                failed.append(planned.url)
        if failed:
            _ytdlp_after_all(final.url, work, opts, env, fetch, failed, collected, result)
    else:
        # A direct link: the response is the media itself.
        collected.append(Collected(final.body_path or "", "media", final.url, started,
                                   {"via": "prov", "content_type": final.header("Content-Type"),
                                    "http_status": final.status},
                                   final.sha256, final.md5, final.size, exchange=True))
    result.timings["fetch"] = time.perf_counter() - clock
    return _record(conn, url, opts, by, work, env, started, fetch, collected, gone_media,
                   earlier, title, result)


class _Fetcher:
    """Every exchange made during one capture, in order, for the WARC."""

    def __init__(self, limits: Limits, agent: str, context: Any, work: str,
                 progress: Progress | None) -> None:
        self.limits, self.agent, self.context, self.work = limits, agent, context, work
        self.progress = progress
        self.exchanges: list[tuple[Hop, str]] = []
        self.streamer: Streamer | None = None  # offered the first fetch only

    def __call__(self, url: str, *, referer: str | None = None,
                 last: int | None = None) -> capture_net.Fetched:
        """Fetch `url`; `last`, when nothing of size will follow this fetch: the bytes of
        the files (not fetched by prov) the WACZ will hold beside the exchanges."""
        at = now_utc()
        if self.streamer is not None and (last is not None or not self.exchanges):
            tee = self.streamer.offer(list(self.exchanges), at, last or 0)
        else:
            tee = None
        opened = self.streamer.wacz if self.streamer is not None else None
        try:
            got = capture_net.fetch(url, self.limits, user_agent=self.agent,
                                    context=self.context, workdir=self.work,
                                    progress=self.progress, tee=tee, referer=referer)
        except BaseException:
            if self.streamer is not None and opened is None:
                # A body that was going into the WACZ as it arrived failed part way: that
                # WACZ now ends in a record cut short. It is dropped; if the capture goes
                # on (a page's other media), the WACZ is written afresh when packed.
                self.streamer.discard()
            raise
        self.exchanges.extend((hop, at) for hop in got.hops)
        return got


def _read(hop: Hop) -> bytes:
    with open(hop.body_path or "/dev/null", "rb") as f:
        return f.read(8 * 1024 * 1024)


def _ytdlp_after_all(page_url: str, work: str, opts: CaptureOptions, env: dict[str, Any],
                     fetch: _Fetcher, failed: list[str], collected: list[Collected],
                     result: CaptureResult) -> None:
    """What yt-dlp chose but prov's fetcher could not get (an error, a refusal, a body cut
    short) is downloaded by yt-dlp itself, with its own retries, as before prov fetched it:
    a passing error at a CDN must not cost the investigator the video."""
    again = capture_media.ytdlp(page_url, work, opts.limits, user_agent=env["user_agent"],
                                ca_file=opts.ca_file, progress=fetch.progress)
    result.notes.extend(again.notes)
    wanted = set(failed)
    for d in again.downloads:
        if d.url not in wanted:
            os.unlink(d.path)  # fetched by prov already
            continue
        if fetch.streamer is not None:
            # A WACZ begun for a streamed video was sized without this file: written afresh.
            fetch.streamer.discard()
        collected.append(Collected(d.path, "media", d.url, now_utc(),
                                   {"via": "yt-dlp", "yt_dlp": d.info,
                                    "after": "prov's own fetch of it failed"}))
        result.notes.append(f"media {d.url}: prov's fetch failed; yt-dlp downloaded it"
                            " itself (in the WARC as a resource record)")


def _media_by_link(conn: sqlite3.Connection, fetch: _Fetcher, link: str, why: str,
                   collected: list[Collected], gone_media: list[dict[str, Any]],
                   result: CaptureResult, planned: capture_media.Planned | None = None,
                   last: int | None = None) -> str:
    """Fetch one media link; "kept", "gone" (HTTP 404/410) or "failed"."""
    try:
        got = fetch(link, referer=planned.referer if planned else None, last=last)
    except BadInput as exc:
        result.notes.append(f"media {link}: {exc.reason}")
        return "failed"
    hop = got.final
    if hop.status in (404, 410):
        if served_before(conn, link):
            gone_media.append({"url": link, "status": hop.status, "named_by": why})
            result.notes.append(f"media {link}: gone at source (HTTP {hop.status})")
        else:
            result.notes.append(f"media {link}: HTTP {hop.status}")
        return "gone"
    if hop.status >= 400 or not hop.size:
        result.notes.append(f"media {link}: HTTP {hop.status}, {hop.size} bytes; not kept")
        return "failed"
    origin: dict[str, Any] = {"via": "prov", "named_by": why}
    if planned is not None:  # chosen by yt-dlp, its info kept; the bytes fetched by prov
        origin = {"via": "yt-dlp", "fetched_by": "prov", "yt_dlp": planned.info}
    collected.append(Collected(hop.body_path or "", "media", hop.url, now_utc(),
                               {**origin, "http_status": hop.status,
                                "content_type": hop.header("Content-Type")},
                               hop.sha256, hop.md5, hop.size, exchange=True))
    return "kept"


def _render(url: str, work: str, result: CaptureResult) -> list[Collected]:
    from provenance.ingest import capture_render

    made, note = capture_render.render(url, work)
    if note:
        result.notes.append(note)
    return [Collected(path, role, url, now_utc(), {"via": "chromium", **extra})
            for path, role, extra in made]


def previous(conn: sqlite3.Connection, url: str) -> sqlite3.Row | None:
    return conn.execute("SELECT * FROM captures WHERE url = ? ORDER BY id DESC LIMIT 1",
                        (url,)).fetchone()


def served_before(conn: sqlite3.Connection, url: str) -> bool:
    """Did an earlier capture collect something from this URL (page or media)?"""
    row = conn.execute(
        "SELECT 1 FROM capture_files WHERE url = ? AND status = 'collected'"
        " UNION SELECT 1 FROM captures WHERE (url = ? OR final_url = ?) AND gone = 0 LIMIT 1",
        (url, url, url)).fetchone()
    return row is not None


def _name_for(url: str, fallback: str) -> str:
    base = unquote(urlsplit(url).path.rsplit("/", 1)[-1])
    base = re.sub(r"[^\w.\-]+", "_", base).strip("._")[:120]
    return base or fallback


def _record(conn: sqlite3.Connection, url: str, opts: CaptureOptions, by: str, work: str,
            env: dict[str, Any], started: str, fetch: _Fetcher, collected: list[Collected],
            gone_media: list[dict[str, Any]], earlier: sqlite3.Row | None, title: str | None,
            result: CaptureResult) -> CaptureResult:
    chain = _chain(url, fetch)
    # Each collected file gets a readable name (its URL's last segment) in its own folder.
    for n, c in enumerate(collected):
        folder = os.path.join(work, f"item-{n}")
        os.makedirs(folder)
        target = os.path.join(folder, _name_for(c.url, f"{c.role}-{n}"))
        if c.exchange:
            os.link(c.path, target)  # the same bytes, also read for the WARC below
        else:
            shutil.move(c.path, target)
        c.path = target
    clock = time.perf_counter()
    for c in collected:
        if c.md5 is None:  # yt-dlp's downloads and the renderings: hashed here, once
            c.sha256, c.md5, c.size = _hash_file(c.path)
    result.timings["hash"] = time.perf_counter() - clock
    clock = time.perf_counter()
    packing = wacz_path(work, started)
    # What is read of the media before securing them (a picture's decode, a container's
    # facts: their perceptual analysis is deferred, see ingest/deferred.py) runs beside the
    # packing of the WACZ and its hashing.
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="capture-analyse") as pool:
        # The downloads go to disk meanwhile: fsync waits on the disk, not on the CPU.
        flushed = pool.submit(_flush, [c.path for c in collected])
        pending = [pool.submit(_analyse_collected, c) for c in collected]
        try:
            packed = _pack(packing, url, started, env, fetch, collected, title)
            warc_sha = packed.warc_sha256
            # Hashed as it was written (warc_pack._Sink): not read again to hash it.
            archive = analyse(packing, "other", None,
                              hashed=(packed.sha256, packed.md5, packed.size))
            result.timings["archive"] = time.perf_counter() - clock
        finally:
            analyses = [f.result() for f in pending]
            flushed.result()
    result.timings["analyse"] = time.perf_counter() - clock
    clock = time.perf_counter()
    for c, a in zip(collected, analyses, strict=True):
        _adoptable(a, c.path)
    _adoptable(archive, packing)
    archive.kind = "archive"
    if archive.error or archive.sha256 is None:
        raise ProvError(f"{url}: the WACZ written could not be read back: {archive.error}")
    try:
        # One unit: the items, their sightings and the collection record commit together
        # or not at all, so no item is left without the record of how it was collected.
        writing = time.perf_counter()
        with transaction(conn):
            event, files, checks = _register_all(conn, url, opts, by, env, started, fetch,
                                                 collected, analyses, archive, gone_media,
                                                 earlier, title, warc_sha, packing, chain,
                                                 result)
        result.timings["committed"] = time.perf_counter()
        result.timings["database"] = result.timings["committed"] - writing
    except (OSError, sqlite3.Error) as exc:
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise BadInput(url, f"not recorded: cannot write the database or evidence store"
                       f" ({why}); nothing of this capture was recorded") from exc
    finally:
        for a in (*analyses, archive):
            discard(a)
    store = EvidenceStore.beside(conn)
    for added in result.items:
        if added.sha256:
            store.settle(added.sha256)
    for added, a in checks:
        if a.deferred:
            # Checked for re-uploads when analysed; held already but still waiting (captured
            # before, not analysed since) counts too.
            if (added.sha256 and added.sha256 not in result.pending
                    and analysis_state.is_pending(conn, added.sha256)):
                result.pending.append(added.sha256)
            continue
        try:
            check_new_item(conn, added, a, by)  # is this a re-upload of something held?
        except (ProvError, OSError, sqlite3.OperationalError) as exc:
            added.warnings.append(f"registered, but near-duplicates not checked: {exc}")
    result.timings["register"] = time.perf_counter() - clock
    result.capture, result.archive, result.files = event.seq, archive.sha256, files
    return result


def _register_all(conn: sqlite3.Connection, url: str, opts: CaptureOptions, by: str,
                  env: dict[str, Any], started: str, fetch: _Fetcher,
                  collected: list[Collected], analyses: list[Any], archive: Any,
                  gone_media: list[dict[str, Any]], earlier: sqlite3.Row | None,
                  title: str | None, warc_sha: str, wacz_path: str,
                  chain: list[dict[str, Any]], result: CaptureResult
                  ) -> tuple[Event, list[dict[str, Any]], list[tuple[AddResult, Any]]]:
    """Register every file and write the collection record (inside the caller's transaction)."""
    final = chain[-1]
    files: list[dict[str, Any]] = []
    checks: list[tuple[AddResult, Any]] = []
    for c, a in zip(collected, analyses, strict=True):
        if a.error:
            result.notes.append(f"{c.role} {c.url}: not registered: {a.error}")
            continue
        sighting = Sighting(case=opts.case, source_url=c.url, title=opts.title, note=opts.note,
                            seen_at=c.seen_at, page_url=final["url"], origin=c.origin, path="")
        added = register(conn, a, sighting, by=by)
        checks.append((added, a))
        result.items.append(added)
        files.append({"role": c.role, "sha256": a.sha256, "url": c.url, "kind": added.kind,
                      "size": a.size, "status": "collected", "seen_at": c.seen_at,
                      **({"yt_dlp": c.origin["yt_dlp"]} if "yt_dlp" in c.origin else {})})
    for g in gone_media:
        files.append({"role": "media", "sha256": None, "url": g["url"], "status": "gone",
                      "http_status": g["status"]})
    added = register(conn, archive, Sighting(
        case=opts.case, source_url=url, title=opts.title, note=opts.note, seen_at=started,
        page_url=final["url"], origin={"via": "prov capture"}, path=""), by=by)
    result.items.insert(0, added)
    files.insert(0, {"role": "archive", "sha256": archive.sha256, "url": url,
                     "kind": "archive", "size": archive.size, "status": "collected"})
    page_hop = fetch.exchanges[len(chain) - 1][0]
    result.changes = changes(conn, earlier, page_hop.sha256, files, result.status == "gone")
    record = {
        "url": url, "final_url": final["url"], "captured_at": started, "finished_at": now_utc(),
        "title": title, "case": opts.case, "note": opts.note, "investigator": by,
        "persona": opts.persona, "vpn": opts.vpn, **env, "status_chain": chain,
        "page_sha256": page_hop.sha256, "archive": archive.sha256,
        "gone_at_source": result.status == "gone" or bool(gone_media),
        "files": files, "changes": result.changes, "notes": result.notes,
        "written": [{"name": "archive/data.warc (in the WACZ)", "sha256": warc_sha}]
        + [{"name": os.path.basename(wacz_path), "sha256": archive.sha256}]
        + [{"name": os.path.basename(c.path), "sha256": c.sha256} for c in collected],
        "limits": {"max_size": opts.limits.max_size, "timeout": opts.limits.timeout,
                   "max_redirects": opts.limits.max_redirects,
                   "max_media": opts.limits.max_media},
    }
    event = log.record(conn, "capture.recorded", record, by=by, item=archive.sha256)
    return event, files, checks


def _hash_file(path: str) -> tuple[str, str, int]:
    (sha, md5), size = hash_file(path, "sha256", "md5")
    return sha, md5, size


def _analyse_collected(c: Collected) -> Any:
    """What registering a collected file needs (hashed as this capture wrote it): a video's,
    a sound's or a document's perceptual analysis is left for `prov analyse`."""
    assert c.sha256 and c.md5 and c.size is not None
    return analyse(c.path, None, None, hashed=(c.sha256, c.md5, c.size), defer=True)


def _adoptable(analysis: Any, path: str) -> None:
    """Let the store take this file by renaming it (no second copy of a large download).

    The file is in this capture's private folder inside the store (same file system), was
    written by this capture, hashed as it was, and flushed to disk (`_flush`, the WACZ by
    its writer) before the store takes it, as a staged copy would be."""
    if analysis.error or analysis.sha256 is None:
        return
    analysis.staged_copy = path


def _flush(paths: list[str]) -> None:
    """fsync each collected file: the disk writes them while the WACZ is packed."""
    for path in paths:
        with open(path, "rb+") as f:
            os.fsync(f.fileno())


def _chain(url: str, fetch: _Fetcher) -> list[dict[str, Any]]:
    """The page's own hops: the first exchanges, up to the first non-redirect."""
    chain = []
    for hop, at in fetch.exchanges:
        chain.append({"url": hop.url, "status": hop.status, "reason": hop.reason, "at": at,
                      "ip": hop.ip, "port": hop.port,
                      "location": hop.header("Location"),
                      "content_type": hop.header("Content-Type"),
                      "tls": {k: v for k, v in hop.tls.items() if k != "chain_pem"}
                      if hop.tls else None})
        if hop.status not in capture_net.REDIRECTS:
            break
    return chain


def _pack(path: str, url: str, started: str, env: dict[str, Any], fetch: _Fetcher,
          collected: list[Collected], title: str | None) -> Packed:
    wacz = fetch.streamer.wacz if fetch.streamer else None
    if wacz is None:  # nothing went in as it downloaded: the WACZ is written now
        wacz = open_wacz(path, url, env, sum(hop.block_size for hop, _ in fetch.exchanges) + sum(
            os.path.getsize(c.path) for c in collected if not c.exchange))
    try:
        for hop, at in fetch.exchanges:  # those streamed in get their digests' record
            wacz.exchange(hop, warc_date(at))
        for c in collected:
            if c.exchange:
                continue  # already in the WARC as the response it was
            wacz.resource(c.url if c.role == "media" else f"urn:prov:{c.role}:{url}",
                          c.seen_at, c.path, c.sha256 or "", _mime_of(c.path))
        wacz.metadata(url, started, {"collection_environment": env})
        final = _chain(url, fetch)[-1]
        wacz.pages.append({"id": "1", "url": final["url"], "ts": started,
                           **({"title": title} if title else {})})
        return wacz.close(
            title=title or url, main_url=final["url"], main_date=started, created=started,
            extras={"prov": {"items": [{"sha256": c.sha256, "role": c.role, "url": c.url}
                                       for c in collected if c.sha256]}})
    except BaseException:
        wacz.abort()
        raise


def _mime_of(path: str) -> str:
    import mimetypes

    return mimetypes.guess_type(path)[0] or "application/octet-stream"


def changes(conn: sqlite3.Connection, earlier: sqlite3.Row | None, page_sha: str | None,
            files: list[dict[str, Any]], gone: bool) -> list[str]:
    """What differs from the previous capture of the same URL (none for a first capture)."""
    if earlier is None:
        return []
    out: list[str] = []
    when = f"capture {earlier['id']} ({earlier['captured_at']})"
    if gone and not earlier["gone"]:
        out.append(f"gone at source: served at {when}, now HTTP error")
    elif earlier["page_sha256"] != page_sha:
        out.append(f"page changed since {when}")
    before = {r[0] for r in conn.execute(
        "SELECT item FROM capture_files WHERE capture = ? AND role = 'media'"
        " AND status = 'collected'", (earlier["id"],))}
    now = {f["sha256"] for f in files if f["role"] == "media" and f["status"] == "collected"}
    if not gone:
        for sha in sorted(now - before):
            out.append(f"new media {sha[:12]}")
        for sha in sorted(before - now):
            out.append(f"media {sha[:12]} no longer on the page")
    for f in files:
        if f["status"] == "gone":
            out.append(f"media gone at source: {f['url']} (HTTP {f.get('http_status')})")
    return out
