"""`prov capture`, second round: one all-or-nothing unit, `archive` as a filter kind, and a
full-page screenshot from headless Chromium (served on 127.0.0.1 only)."""

from __future__ import annotations

import json
import shutil
import sqlite3
import struct
from pathlib import Path

import pytest

from fixtures import web
from provenance.ledger.db import store_dir

from .captured import Posted, capture_post
from .conftest import invoke


@pytest.fixture(scope="module")
def site_files(tmp_path_factory: pytest.TempPathFactory) -> web.Site:
    site = web.build_site(tmp_path_factory.mktemp("site"))
    # A page 6000 CSS pixels tall (no margins), coloured bands so it is not blank.
    bands = "".join(f'<div style="height:1000px;background:#{c}"></div>'
                    for c in ("c33", "3c3", "33c", "cc3", "3cc", "c3c"))
    site.files["/tall"] = (f"<!doctype html><html><head><title>Tall</title></head>"
                           f'<body style="margin:0">{bands}</body></html>'.encode(),
                           "text/html; charset=utf-8")
    site.files["/taller"] = (b'<!doctype html><html><body style="margin:0">'
                             b'<div style="height:20000px;background:linear-gradient(red,blue)">'
                             b"</div></body></html>", "text/html")
    return site


@pytest.fixture
def server(site_files: web.Site):
    site_files.state.update(version=1, media_gone=0)
    site_files.stall_seconds = 5
    with web.serve(site_files) as running:
        yield running


@pytest.fixture(scope="module")
def posted(site_files: web.Site, tmp_path_factory: pytest.TempPathFactory) -> Posted:
    """The post page captured once, for the tests that only read it."""
    return capture_post(site_files, tmp_path_factory)


@pytest.fixture(autouse=True)
def _no_browser(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROV_CHROMIUM", "")  # the browser test turns it back on


def _count(db: Path, sql: str) -> int:
    return sqlite3.connect(db).execute(sql).fetchone()[0]


def test_a_capture_whose_record_cannot_be_written_leaves_no_item_behind(db, server):
    # A real failure at the last step: the database itself refuses the collection record.
    con = sqlite3.connect(db)
    con.execute("CREATE TRIGGER refuse BEFORE INSERT ON events WHEN NEW.type ="
                " 'capture.recorded' BEGIN SELECT RAISE(ABORT, 'disk says no'); END")
    con.commit()
    events = _count(db, "SELECT COUNT(*) FROM events")
    run = invoke(db, "capture", f"{server.base}/post", f"{server.base}/media/one.jpg")
    assert run.exit_code == 1
    lines = [ln for ln in run.stderr.splitlines() if ln.startswith("error:")]
    assert len(lines) == 2 and all("nothing of this capture was recorded" in ln
                                   and "disk says no" in ln for ln in lines), run.stderr
    assert "Traceback" not in run.stderr
    # No item, no sighting, no event: the items and their record were one unit.
    assert _count(db, "SELECT COUNT(*) FROM events") == events
    assert _count(db, "SELECT COUNT(*) FROM items") == 0
    assert invoke(db, "list", "--json").json() == []
    # The originals the store took are marked as an interrupted registration, not as
    # items lost from the log; verify passes.
    con.execute("DROP TRIGGER refuse")
    con.commit()
    check = invoke(db, "verify")
    assert check.exit_code == 0, check.output
    # Once the database accepts it, the same capture goes in whole.
    again = invoke(db, "capture", f"{server.base}/post", "--json")
    assert again.exit_code == 0, again.output
    got = again.json()[0]
    assert got["status"] == "captured" and len(got["files"]) == 4
    assert _count(db, "SELECT COUNT(*) FROM captures") == 1
    assert _count(db, "SELECT COUNT(*) FROM items") == 4
    assert invoke(db, "verify").exit_code == 0


def test_list_filters_by_kind_archive(posted):
    db, archive = posted.db, posted.r["archive"]
    listed = invoke(db, "list", "--kind", "archive", "--json")
    assert listed.exit_code == 0, listed.output
    assert [i["sha256"] for i in listed.json()] == [archive]
    videos = invoke(db, "list", "--kind", "video", "--json").json()
    assert len(videos) == 1 and videos[0]["sha256"] != archive


def _png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", head[16:24])


@pytest.mark.browser
def test_the_screenshot_is_the_whole_page(db, server, monkeypatch):
    if not shutil.which("chromium"):
        pytest.skip("Chromium is not installed")
    monkeypatch.delenv("PROV_CHROMIUM")
    run = invoke(db, "capture", f"{server.base}/tall", "--json")
    assert run.exit_code == 0, run.output
    shot = next(f for f in run.json()[0]["files"] if f["role"] == "screenshot")
    assert shot["kind"] == "image"
    sha = shot["sha256"]
    width, height = _png_size(store_dir(db) / "sha256" / sha[:2] / sha[2:4] / sha)
    assert width == 1280 and height == 6000
    pdf = [f for f in run.json()[0]["files"] if f["role"] == "pdf"]
    assert len(pdf) == 1 and pdf[0]["kind"] == "document"


@pytest.mark.browser
def test_a_page_taller_than_the_limit_is_captured_to_the_limit_and_says_so(db, server,
                                                                          monkeypatch):
    if not shutil.which("chromium"):
        pytest.skip("Chromium is not installed")
    monkeypatch.delenv("PROV_CHROMIUM")
    run = invoke(db, "capture", f"{server.base}/taller", "--json")
    assert run.exit_code == 0, run.output
    shot = next(f for f in run.json()[0]["files"] if f["role"] == "screenshot")
    sha = shot["sha256"]
    assert _png_size(store_dir(db) / "sha256" / sha[:2] / sha[2:4] / sha) == (1280, 16384)
    said = [n for n in run.json()[0]["notes"] if "1280x20000" in n]
    assert len(said) == 1 and "1280x16384" in said[0], run.json()[0]["notes"]
    # The collection record keeps what the page measured and what was captured.
    origin = json.loads(sqlite3.connect(db).execute(
        "SELECT origin_json FROM sightings WHERE item = ?", (sha,)).fetchone()[0])
    assert origin["page_size"] == "1280x20000" and origin["captured_size"] == "1280x16384"
    assert origin["capped"] is True


def test_hashes_taken_on_the_download_stream_are_the_files_hashes(posted, site_files):
    # The media are hashed as they are downloaded, not re-read: the item's SHA-256 and MD5
    # must still be those of the bytes served and of the stored original.
    import hashlib

    db = posted.db
    media = [f for f in posted.r["files"] if f["role"] == "media"]
    assert len(media) == 3
    con = sqlite3.connect(db)
    for f in media:
        served = site_files.files[f["url"].removeprefix(posted.base)][0]
        data = served.read_bytes() if isinstance(served, Path) else served
        md5 = con.execute("SELECT md5 FROM items WHERE sha256 = ?", (f["sha256"],)).fetchone()[0]
        assert f["sha256"] == hashlib.sha256(data).hexdigest()
        assert md5 == hashlib.md5(data).hexdigest()
        stored = store_dir(db) / "sha256" / f["sha256"][:2] / f["sha256"][2:4] / f["sha256"]
        assert hashlib.sha256(stored.read_bytes()).hexdigest() == f["sha256"]


def test_every_warc_record_digest_matches_its_bytes(posted):
    # Digests that prov supplies instead of letting warcio re-read a file must be right.
    import base64
    import hashlib
    import io
    import zipfile

    from warcio.archiveiterator import ArchiveIterator

    db, archive = posted.db, posted.r["archive"]
    stored = store_dir(db) / "sha256" / archive[:2] / archive[2:4] / archive
    with zipfile.ZipFile(stored) as zf:
        data = zf.read("archive/data.warc")
    seen = []
    blocks: dict[str, str] = {}  # record ID: the block digest it should have
    for rec in ArchiveIterator(io.BytesIO(data)):
        rid = rec.rec_headers.get_header("WARC-Record-ID")
        block = rec.rec_headers.get_header("WARC-Block-Digest")
        if rec.rec_type == "metadata" and rec.rec_headers.get_header("WARC-Refers-To"):
            # A response written as it arrived: its digests are in the record after it.
            doc = json.loads(rec.content_stream().read())
            assert blocks.pop(doc["digests_of"]) == doc["WARC-Block-Digest"]
            seen.append("streamed")
            continue
        raw = rec.raw_stream.read()  # the block: HTTP headers (if any) and payload
        if rec.http_headers is not None:
            raw = rec.http_headers.to_bytes() + raw
        want = "sha256:" + base64.b32encode(hashlib.sha256(raw).digest()).decode()
        if rec.rec_type in ("resource", "response") and not block:
            blocks[rid] = want
            continue
        if not block:
            continue
        assert block == want, (rec.rec_type, rec.rec_headers.get_header("WARC-Target-URI"))
        seen.append(rec.rec_type)
    assert not blocks  # every response has its digest, in its header or in the next record
    assert seen.count("response") == 3 and seen.count("streamed") == 1


def test_a_block_digest_taken_on_other_header_bytes_is_not_used(tmp_path):
    # The response's WARC-Block-Digest is taken on the download stream over the header bytes
    # prov expects warcio to write; if warcio writes other bytes, the digest it computes
    # itself must be used, never the one taken over different bytes.
    import base64
    import hashlib
    import io
    import zipfile

    from warcio.archiveiterator import ArchiveIterator

    from provenance.ingest.capture_net import Hop
    from provenance.ingest.warc_pack import Wacz

    body = tmp_path / "body"
    body.write_bytes(b"x" * 5000)
    hop = Hop(url="http://127.0.0.1/x", request_line=b"GET /x HTTP/1.1",
              request_headers=[("Host", "127.0.0.1")], status=200, reason="OK",
              protocol="HTTP/1.1", headers=[("Content-Type", "text/plain")], ip="127.0.0.1",
              port=80, tls=None, body_path=str(body), size=5000,
              sha256=hashlib.sha256(body.read_bytes()).hexdigest())
    hop.block_head = b"HTTP/1.1 200 OK\r\nSomething: else\r\n\r\n"
    hop.block_sha256 = hashlib.sha256(hop.block_head + body.read_bytes()).hexdigest()
    wacz = Wacz(str(tmp_path / "x.wacz"), software="test")
    wacz.exchange(hop, "2026-01-01T00:00:00Z")
    packed = wacz.close(title="t", main_url=hop.url, main_date="2026-01-01T00:00:00Z",
                        created="2026-01-01T00:00:00Z", extras={})
    data = (tmp_path / "x.wacz").read_bytes()
    assert packed.sha256 == hashlib.sha256(data).hexdigest()
    assert packed.md5 == hashlib.md5(data).hexdigest() and packed.size == len(data)
    with zipfile.ZipFile(tmp_path / "x.wacz") as zf:
        warc = zf.read("archive/data.warc")
    assert packed.warc_sha256 == hashlib.sha256(warc).hexdigest()
    resp = next(r for r in ArchiveIterator(io.BytesIO(warc)) if r.rec_type == "response")
    raw = resp.http_headers.to_bytes() + resp.raw_stream.read()
    want = "sha256:" + base64.b32encode(hashlib.sha256(raw).digest()).decode()
    assert resp.rec_headers.get_header("WARC-Block-Digest") == want
    assert want != "sha256:" + base64.b32encode(bytes.fromhex(hop.block_sha256)).decode()
