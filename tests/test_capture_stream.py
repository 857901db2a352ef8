"""`prov capture` of a direct link: the body goes into the WACZ's WARC as it downloads, its
digests in the metadata record after it; what cannot be streamed is packed afterwards; and a
body at odds with its Content-Length, or cut off part way, leaves nothing recorded."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import shutil
import sqlite3
import subprocess
import sys
import zipfile
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from warcio.archiveiterator import ArchiveIterator

from fixtures import web
from provenance.ledger.db import store_dir

from .conftest import invoke


@pytest.fixture(scope="module")
def site_files(tmp_path_factory: pytest.TempPathFactory) -> web.Site:
    return web.build_site(tmp_path_factory.mktemp("site"))


@pytest.fixture
def server(site_files: web.Site):
    site_files.state.update(version=1, media_gone=0)
    site_files.stall_seconds = 5
    with web.serve(site_files) as running:
        yield running


@pytest.fixture(autouse=True)
def _no_browser(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROV_CHROMIUM", "")


def _b32(hex_digest: str) -> str:
    return "sha256:" + base64.b32encode(bytes.fromhex(hex_digest)).decode()


def _stored(db: Path, sha: str) -> Path:
    return store_dir(db) / "sha256" / sha[:2] / sha[2:4] / sha


def _capture(db: Path, url: str) -> dict:
    run = invoke(db, "capture", url, "--json")
    assert run.exit_code == 0, run.output
    return run.json()[0]


def _records(db: Path, archive: str) -> list[tuple[str, object, object, bytes]]:
    with zipfile.ZipFile(_stored(db, archive)) as zf:
        data = zf.read("archive/data.warc")
    out = []
    for rec in ArchiveIterator(io.BytesIO(data)):
        head = rec.http_headers.to_bytes() if rec.http_headers is not None else b""
        out.append((rec.rec_type, rec.rec_headers, head, rec.content_stream().read()))
    return out


def _whole_records(db: Path, archive: str) -> list[tuple[str, str, str | None, bytes]]:
    """(type, target URI, HTTP status, body) of every record of the archive's WARC; each
    response whole: its HTTP body holds every byte the record's headers promise."""
    with zipfile.ZipFile(_stored(db, archive)) as zf:
        warc = zf.read("archive/data.warc")
    out = []
    for rec in ArchiveIterator(io.BytesIO(warc)):
        body = rec.content_stream().read()
        if rec.rec_type == "response":
            assert len(body) == int(rec.http_headers.get_header("Content-Length"))
        out.append((rec.rec_type, rec.rec_headers.get_header("WARC-Target-URI") or "",
                    rec.http_headers.get_statuscode() if rec.http_headers else None, body))
    return out


def _served(site: web.Site, path: str) -> bytes:
    src = site.files[path][0]
    return src.read_bytes() if isinstance(src, Path) else src


def test_a_direct_link_is_streamed_into_the_warc_its_digests_in_the_record_after(
        db, server, site_files, tmp_path):
    served = _served(site_files, "/media/clip.mp4")
    r = _capture(db, f"{server.base}/to-clip")
    video = next(f for f in r["files"] if f["role"] == "media")
    assert video["sha256"] == hashlib.sha256(served).hexdigest()
    assert _stored(db, video["sha256"]).read_bytes() == served  # the store's own copy
    records = _records(db, r["archive"])
    kinds = [(t, h.get_header("WARC-Target-URI").rsplit("/", 1)[-1]) for t, h, _, _ in records
             if t in ("request", "response")]
    # The redirect first, then the video, in the order they were fetched.
    assert kinds == [("request", "to-clip"), ("response", "to-clip"),
                     ("request", "clip.mp4"), ("response", "clip.mp4")]
    at = next(i for i, rec in enumerate(records)
              if rec[0] == "response" and rec[1].get_header("WARC-Target-URI").endswith("mp4"))
    _, headers, http_head, body = records[at]
    assert body == served
    # Written as it arrived: no digest in its header, which came before its bytes ...
    assert headers.get_header("WARC-Payload-Digest") is None
    assert headers.get_header("WARC-Block-Digest") is None
    # ... they are in the metadata record right after it, and right.
    kind, meta, _, payload = records[at + 1]
    rid = headers.get_header("WARC-Record-ID")
    assert kind == "metadata" and meta.get_header("WARC-Refers-To") == rid
    doc = json.loads(payload)
    assert doc["WARC-Payload-Digest"] == _b32(hashlib.sha256(served).hexdigest())
    assert doc["WARC-Block-Digest"] == _b32(hashlib.sha256(http_head + served).hexdigest())
    assert doc["payload_md5"] == hashlib.md5(served).hexdigest()
    assert doc["payload_length"] == len(served) and doc["digests_of"] == rid
    # The index gives the video's digest too.
    with zipfile.ZipFile(_stored(db, r["archive"])) as zf:
        cdx = zf.read("indexes/index.cdx").decode()
        package = json.loads(zf.read("datapackage.json"))
        warc = zf.read("archive/data.warc")
    line = next(json.loads(x.split(" ", 2)[2]) for x in cdx.splitlines() if "clip.mp4" in x)
    assert line["digest"] == _b32(video["sha256"])
    assert package["resources"][0]["hash"] == "sha256:" + hashlib.sha256(warc).hexdigest()
    data = _stored(db, r["archive"]).read_bytes()
    assert hashlib.sha256(data).hexdigest() == r["archive"]
    shown = invoke(db, "show", r["archive"], "--json").json()
    assert shown["md5"] == hashlib.md5(data).hexdigest() and shown["size"] == len(data)
    pytest.importorskip("wacz")
    copy = tmp_path / "streamed.wacz"
    shutil.copyfile(_stored(db, r["archive"]), copy)
    done = subprocess.run([sys.executable, "-m", "wacz", "validate", "-f", str(copy)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_body_without_content_length_is_packed_after_it_downloaded(db, server, site_files):
    served = _served(site_files, "/media/clip.mp4")
    r = _capture(db, f"{server.base}/undeclared/clip.mp4")
    assert next(f for f in r["files"] if f["role"] == "media")["sha256"] == (
        hashlib.sha256(served).hexdigest())
    records = _records(db, r["archive"])
    _, headers, _, body = next(rec for rec in records if rec[0] == "response")
    assert body == served
    assert headers.get_header("WARC-Payload-Digest") == _b32(hashlib.sha256(served).hexdigest())
    assert not any(rec[1].get_header("WARC-Refers-To") for rec in records)


def _nothing_recorded(db: Path) -> None:
    con = sqlite3.connect(db)
    assert con.execute("SELECT COUNT(*) FROM events").fetchone()[0] == 0
    assert con.execute("SELECT COUNT(*) FROM items").fetchone()[0] == 0
    assert not list(store_dir(db).glob("capture-*"))  # its working folder is gone
    assert not [p for p in store_dir(db).rglob("*") if p.is_file()]


@pytest.mark.parametrize("how, said", [
    ("short", "of the 262,144 bytes its Content-Length declared"),
    ("long", "more than the 262,144 bytes its Content-Length declared"),
])
def test_a_body_at_odds_with_its_content_length_records_nothing(db, server, how, said):
    _refused_in_one_line(db, f"{server.base}/lying-length/{how}", said)


def _refused_in_one_line(db: Path, url: str, said: str) -> None:
    """`prov capture URL` fails in one line naming the URL and saying `said`, and leaves
    nothing recorded."""
    run = invoke(db, "capture", url)
    assert run.exit_code == 1 and "Traceback" not in run.output
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and said in lines[0] and urlsplit(url).path in lines[0], lines
    _nothing_recorded(db)


@pytest.mark.parametrize("path, args, said", [
    ("/stall-media", ("--timeout", "1"), "timed out"),
    ("/big", ("--max-size", "1M"), "over --max-size"),
])
def test_a_streamed_download_that_fails_leaves_no_wacz_and_no_record(db, server, path, args,
                                                                      said):
    run = invoke(db, "capture", f"{server.base}{path}", *args)
    assert run.exit_code == 1 and said in run.stderr and "Traceback" not in run.output
    _nothing_recorded(db)


def test_a_streamed_capture_goes_back_in_checked_against_its_digests_record(db, server,
                                                                           tmp_path):
    r = _capture(db, f"{server.base}/media/clip.mp4")
    video = next(f for f in r["files"] if f["role"] == "media")
    wacz = tmp_path / "in.wacz"
    shutil.copyfile(_stored(db, r["archive"]), wacz)
    other = tmp_path / "other.db"
    invoke(other, "init", check=True)
    got = invoke(other, "add", str(wacz), "--json")
    assert got.exit_code == 0, got.output
    assert video["sha256"] in {g["sha256"] for g in got.json()[1:]}
    # The same WARC with one byte of the video changed: the digests record tells.
    with zipfile.ZipFile(wacz) as zf:
        warc = bytearray(zf.read("archive/data.warc"))
    at = warc.index(b"\r\n\r\n", warc.index(b"WARC-Type: response")) + 4
    at = warc.index(b"\r\n\r\n", at) + 5000  # past the HTTP headers, into the video
    warc[at] ^= 0xFF
    damaged = tmp_path / "damaged.warc"
    damaged.write_bytes(bytes(warc))
    third = tmp_path / "third.db"
    invoke(third, "init", check=True)
    run = invoke(third, "add", str(damaged))
    assert "does not match the WARC-Payload-Digest its metadata record gives" in run.stderr
    assert sqlite3.connect(third).execute(
        "SELECT COUNT(*) FROM items WHERE sha256 = ?", (video["sha256"],)).fetchone()[0] == 0


def test_yt_dlp_downloads_itself_what_prov_cannot_fetch_as_it_would():
    # What yt-dlp resolved is fetched by prov only when it is one plain HTTP(S) file that
    # needs no more than a Referer; merged formats, HLS/DASH, cookies stay yt-dlp's.
    from provenance.ingest.capture_media import _plannable

    plain = {"id": "a", "url": "https://example.org/a.mp4", "protocol": "https",
             "http_headers": {"User-Agent": "x", "Referer": "https://example.org/post"}}
    got = _plannable(plain)
    assert [(p.url, p.referer, p.info["id"]) for p in got] == [
        ("https://example.org/a.mp4", "https://example.org/post", "a")]
    assert _plannable({**plain, "protocol": "m3u8_native"}) == []
    assert _plannable({**plain, "requested_formats": [{"url": "v"}, {"url": "a"}]}) == []
    assert _plannable({**plain, "http_headers": {"Cookie": "session=1"}}) == []
    # A playlist: all or none.
    assert len(_plannable({"_type": "playlist", "entries": [plain, plain]})) == 2
    assert _plannable({"_type": "playlist",
                       "entries": [plain, {**plain, "protocol": "http_dash_segments"}]}) == []


def test_a_page_whose_streamed_video_fails_part_way_keeps_a_whole_warc(db, server,
                                                                      site_files):
    # yt-dlp chooses the page's video; prov streams it into the WACZ as the last fetch; it
    # is cut short after its first chunk. The WACZ began for it must not be kept: the page
    # and its picture are archived in a WARC whose every record is whole.
    site_files.files["/post-short"] = (
        b"<html><head><title>cut</title></head><body><img src='/media/one.jpg'>"
        b"<video src='/lying-length/short' type='video/mp4'></video></body></html>",
        "text/html")
    run = invoke(db, "capture", f"{server.base}/post-short", "--json")
    assert run.exit_code == 0, run.output
    r = run.json()[0]
    assert any("/lying-length/short" in n and "Content-Length declared" in n
               for n in r["notes"])
    assert {f["url"].rsplit("/", 1)[-1] for f in r["files"] if f["role"] == "media"} == {
        "one.jpg"}
    seen = [(t, uri.rsplit("/", 1)[-1], body)
            for t, uri, _, body in _whole_records(db, r["archive"])]
    assert ("response", "short") not in [(t, u) for t, u, _ in seen]
    assert [(t, u) for t, u, _ in seen if t == "response"] == [
        ("response", "post-short"), ("response", "one.jpg")]
    assert any(t == "metadata" and b"collection_environment" in b for t, _, b in seen)


@pytest.mark.parametrize("videos", [
    ["/flaky/clip.mp4"],
    ["/flaky/og.mp4", "/media/clip.mp4"],
    ["/media/og.mp4", "/flaky/clip.mp4"],
])
def test_what_prov_cannot_fetch_yt_dlp_downloads_itself(db, server, site_files, videos):
    # The CDN refuses prov's fetch once (503): yt-dlp, which chose the file, downloads it
    # with its own retries, as it did before prov fetched what yt-dlp resolves.
    page = "/two-" + "-".join(v.rsplit("/", 1)[-1] for v in videos) + videos[0][1:6]
    site_files.files[page] = (
        b"<html><head><title>t</title></head><body>"
        + b"".join(b"<video src='%s' type='video/mp4'></video>" % v.encode() for v in videos)
        + b"</body></html>", "text/html")
    for v in videos:
        site_files.state.pop(f"flaky:{v}", None)
    run = invoke(db, "capture", f"{server.base}{page}", "--json")
    assert run.exit_code == 0, run.output
    r = run.json()[0]
    got = {f["url"].rsplit("/", 1)[-1]: f for f in r["files"] if f["role"] == "media"}
    assert set(got) == {v.rsplit("/", 1)[-1] for v in videos}
    for v in videos:
        name = v.rsplit("/", 1)[-1]
        assert got[name]["sha256"] == hashlib.sha256(
            _served(site_files, "/media/" + name)).hexdigest()
    flaky = next(v for v in videos if v.startswith("/flaky/"))
    assert any(flaky in n and "yt-dlp downloaded it itself" in n for n in r["notes"])
    kinds = [(t, uri, status) for t, uri, status, _ in _whole_records(db, r["archive"])]
    # The refusal is recorded as it happened; the bytes as yt-dlp got them.
    assert ("response", f"{server.base}{flaky}", "503") in kinds
    assert any(t == "resource" and u == f"{server.base}{flaky}" for t, u, _ in kinds)
    assert any(t == "metadata" for t, _, _ in kinds)


def _response_block(db: Path, archive: str, url: str) -> tuple[object, bytes]:
    """The response record for `url`: its WARC headers and its whole block as stored (the
    HTTP headers and body as received)."""
    with zipfile.ZipFile(_stored(db, archive)) as zf:
        warc = zf.read("archive/data.warc")
    for rec in ArchiveIterator(io.BytesIO(warc)):
        if rec.rec_type == "response" and rec.rec_headers.get_header("WARC-Target-URI") == url:
            return rec.rec_headers, rec.http_headers.to_bytes() + rec.raw_stream.read()
    raise AssertionError(f"no response record for {url}")


def _chunked_as_sent(body: bytes, trailer: bytes = b"") -> bytes:
    """What fixtures/web.py sends for /chunked/NAME after its headers (its framing)."""
    sizes, at, n, out = (1, 7, 4096, 65521, 1 << 20), 0, 0, b""
    while at < len(body):
        piece = body[at:at + sizes[n % len(sizes)]]
        at += len(piece)
        out += b"%x%s\r\n%s\r\n" % (len(piece), b";name=part" if n == 1 else b"", piece)
        n += 1
    return out + b"0\r\n" + trailer + b"\r\n"


@pytest.mark.parametrize("how, trailer", [("chunked", b""),
                                          ("chunked-trailer", b"X-Checked: yes\r\n")])
def test_a_chunked_response_is_kept_in_the_warc_as_it_came_over_the_wire(
        db, server, site_files, tmp_path, how, trailer):
    """WARC 1.1: a response record holds the response as received. A chunked body was
    stored de-chunked under its `Transfer-Encoding: chunked` header: a record no reader
    could take for the bytes sent. Now the framing (sizes, an extension, a trailer) is kept
    in the record; the payload (the stored file, the payload digest) is the file; and `prov
    add` of the WACZ reads that payload back and checks it (warcio's own reader takes a
    trailer for part of the file)."""
    served = _served(site_files, "/media/clip.mp4")
    url = f"{server.base}/{how}/clip.mp4"
    r = _capture(db, url)
    media = next(f for f in r["files"] if f["role"] == "media")
    assert media["sha256"] == hashlib.sha256(served).hexdigest()
    assert _stored(db, media["sha256"]).read_bytes() == served
    headers, block = _response_block(db, r["archive"], url)
    head, _, wire = block.partition(b"\r\n\r\n")
    assert b"Transfer-Encoding: chunked" in head
    assert wire == _chunked_as_sent(served, trailer)
    assert headers.get_header("WARC-Payload-Digest") == _b32(hashlib.sha256(served).hexdigest())
    assert headers.get_header("WARC-Block-Digest") == _b32(hashlib.sha256(block).hexdigest())
    assert int(headers.get_header("Content-Length")) == len(block)
    if not trailer:  # warcio de-chunks this one for any reader
        assert next(rec[3] for rec in _records(db, r["archive"]) if rec[0] == "response"
                    and rec[1].get_header("WARC-Target-URI") == url) == served
    copy = tmp_path / "chunked.wacz"
    shutil.copyfile(_stored(db, r["archive"]), copy)
    other = tmp_path / "other.db"
    assert invoke(other, "init").exit_code == 0
    run = invoke(other, "add", str(copy), "--json")
    assert run.exit_code == 0 and "not registered" not in run.output, run.output
    con = sqlite3.connect(other)
    assert con.execute("SELECT COUNT(*) FROM items WHERE sha256 = ?",
                       (media["sha256"],)).fetchone()[0] == 1
    pytest.importorskip("wacz")
    done = subprocess.run([sys.executable, "-m", "wacz", "validate", "-f", str(copy)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("how, said", [
    ("cut", "closed before the last chunk"),
    ("bad", "chunk size b'zz' is not a hexadecimal number"),
    ("huge", "a line over 64 KiB"),
])
def test_chunked_framing_cut_short_or_malformed_records_nothing(db, server, how, said):
    _refused_in_one_line(db, f"{server.base}/chunked-{how}/clip.mp4", said)


def test_an_archive_whose_chunked_record_is_cut_or_malformed_names_it_and_keeps_the_rest(
        db, site_files, tmp_path):
    """Someone else's WARC, hostile or damaged: a chunked response whose framing lies (or
    ends early) is named in one line and not registered; the records beside it go in."""
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    clip = _served(site_files, "/media/clip.mp4")
    framed = _chunked_as_sent(clip)
    warc = tmp_path / "hostile.warc"
    with open(warc, "wb") as fh:
        writer = WARCWriter(fh, gzip=False)
        lie = {"WARC-Payload-Digest": _b32(hashlib.sha256(b"another file").hexdigest())}
        for name, body, claims in (("cut.mp4", framed[: len(framed) // 2], {}),
                                   ("bad.mp4", framed.replace(b"1000\r\n", b"1000x\r\n", 1),
                                    {}),
                                   ("lied.mp4", framed, lie),
                                   ("good.mp4", framed, {})):  # digest by warcio's writer
            http = StatusAndHeaders("200 OK", [("Content-Type", "video/mp4"),
                                               ("Transfer-Encoding", "chunked")],
                                    protocol="HTTP/1.1")
            writer.write_record(writer.create_warc_record(
                f"https://example.org/{name}", "response", payload=io.BytesIO(body),
                length=len(body), http_headers=http, warc_headers_dict=claims))
    invoke(db, "init", check=True)
    run = invoke(db, "add", str(warc), "--json")
    assert run.exit_code == 1 and "Traceback" not in run.output
    said = run.stderr.strip().splitlines()
    assert any("https://example.org/cut.mp4" in line and "cut short" in line for line in said)
    assert any("https://example.org/bad.mp4" in line and "b'1000x'" in line for line in said)
    assert any("https://example.org/lied.mp4 does not match its WARC-Payload-Digest" in line
               for line in said)
    assert len(said) == 3
    con = sqlite3.connect(db)
    held = {r[0] for r in con.execute("SELECT sha256 FROM items")}
    assert hashlib.sha256(clip).hexdigest() in held  # good.mp4
    assert len(held) == 2  # the archive itself and good.mp4's clip
