"""`prov capture` against a web site the tests serve on 127.0.0.1 (never any other address)."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import sqlite3
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from warcio.archiveiterator import ArchiveIterator

from fixtures import web
from provenance.ledger.db import store_dir

from .captured import Posted, capture_post
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
    # Rendering (Chromium) is tested in test_capture_unit.py, on pages made for it.
    monkeypatch.setenv("PROV_CHROMIUM", "")


@pytest.fixture(scope="module")
def posted(site_files: web.Site, tmp_path_factory: pytest.TempPathFactory) -> Posted:
    """The post page (video, two images) captured once, for the tests that only read it."""
    return capture_post(site_files, tmp_path_factory, "--case", "camp", "--persona", "anna_k",
                        "--vpn", "Mullvad se-sto-wg-001")


def _events(db: Path) -> int:
    return sqlite3.connect(db).execute("SELECT COUNT(*) FROM events").fetchone()[0]


def _capture(db: Path, *args: str) -> dict:
    run = invoke(db, "capture", *args, "--json")
    assert run.exit_code == 0, run.output
    return run.json()[0]


def _warc_records(db: Path, archive: str) -> list:
    shown = invoke(db, "show", archive, "--json").json()
    assert shown["kind"] == "archive"
    with zipfile.ZipFile(_stored(db, archive)) as zf:
        data = zf.read("archive/data.warc")
    return [(rec.rec_type, rec.rec_headers, rec.http_headers, rec.content_stream().read())
            for rec in ArchiveIterator(io.BytesIO(data))]


def _stored(db: Path, sha: str) -> Path:
    return store_dir(db) / "sha256" / sha[:2] / sha[2:4] / sha


def test_a_post_page_is_archived_with_its_video_and_two_images(posted, site_files):
    db, r, base = posted.db, posted.r, posted.base
    roles = sorted((f["role"], f["kind"]) for f in r["files"])
    assert roles == [("archive", "archive"), ("media", "image"), ("media", "image"),
                     ("media", "video")]
    video = next(f for f in r["files"] if f["kind"] == "video")
    assert video["url"] == f"{base}/media/clip.mp4"
    assert video["yt_dlp"]["extractor"] in ("generic", "html5")  # yt-dlp found the <video>
    assert video["sha256"] == hashlib.sha256(
        site_files.files["/media/clip.mp4"][0].read_bytes()).hexdigest()
    # Each media item has a sighting with the page URL, media URL and capture time.
    shown = invoke(db, "show", video["sha256"], "--json").json()
    s = shown["sightings"][0]
    assert s["source_url"] == video["url"] and s["page_url"] == f"{base}/post"
    assert s["seen_at"] and s["case_name"] == "camp" and s["path"] is None
    assert json.loads(s["origin_json"])["yt_dlp"]["title"].startswith("Post 1")
    # The collection record.
    rec = shown["collected"][0]["record"]
    assert rec["investigator"] == "tester" and rec["persona"] == "anna_k"
    assert rec["vpn"] == "Mullvad se-sto-wg-001"
    assert rec["user_agent"].startswith("prov/")
    assert set(rec["tools"]) >= {"prov", "yt_dlp", "warcio", "python"}
    assert rec["tools"]["yt_dlp"] != "not installed"
    assert rec["clock"]["utc"].endswith("Z") and rec["clock"]["local"]
    assert [h["status"] for h in rec["status_chain"]] == [200]
    assert rec["status_chain"][0]["ip"] == "127.0.0.1"
    written = {w["sha256"] for w in rec["written"]}
    assert {f["sha256"] for f in r["files"]} <= written
    # The WARC: every request and response, with the server's address, headers and bodies.
    records = _warc_records(db, r["archive"])
    types = [t for t, *_ in records]
    # Page, two images and the video yt-dlp chose, which prov fetched itself (sending the
    # Referer yt-dlp would): each a request and its response, none a resource record.
    assert types[0] == "warcinfo" and types.count("request") == 4
    assert types.count("response") == 4 and types.count("resource") == 0
    page = next(rec for rec in records if rec[0] == "response")
    assert page[1].get_header("WARC-Target-URI") == f"{base}/post"
    assert page[1].get_header("WARC-IP-Address") == "127.0.0.1"
    assert page[2].get_statuscode() == "200"
    assert page[2].get_header("Content-Type") == "text/html; charset=utf-8"
    assert b"<video" in page[3]
    req = next(rec for rec in records if rec[0] == "request")
    assert req[2].get_header("User-Agent").startswith("prov/")
    at, fetched = next((n, rec) for n, rec in enumerate(records) if rec[0] == "response"
                       and rec[1].get_header("WARC-Target-URI") == video["url"])
    assert hashlib.sha256(fetched[3]).hexdigest() == video["sha256"]
    assert fetched[1].get_header("WARC-IP-Address") == "127.0.0.1"
    asked = next(rec for rec in records if rec[0] == "request"
                 and rec[1].get_header("WARC-Target-URI") == video["url"])
    assert asked[2].get_header("Referer") == f"{base}/post"
    # Fetched last, it went into the WARC as it arrived: its digests in the record after it.
    digests = json.loads(records[at + 1][3])
    assert records[at + 1][1].get_header("WARC-Refers-To") == fetched[1].get_header(
        "WARC-Record-ID")
    assert digests["payload_sha256"] == video["sha256"]
    origin = json.loads(s["origin_json"])
    assert origin["via"] == "yt-dlp" and origin["fetched_by"] == "prov"


def test_the_wacz_passes_wacz_validate(posted, tmp_path):
    pytest.importorskip("wacz")
    db, r = posted.db, posted.r
    path = tmp_path / "capture.wacz"
    shutil.copyfile(_stored(db, r["archive"]), path)
    done = subprocess.run([sys.executable, "-m", "wacz", "validate", "-f", str(path)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    with zipfile.ZipFile(path) as zf:
        assert zf.getinfo("archive/data.warc").compress_type == zipfile.ZIP_STORED
        package = json.loads(zf.read("datapackage.json"))
    held = {i["sha256"] for i in package["prov"]["items"]}
    assert held == {f["sha256"] for f in r["files"] if f["role"] == "media"}
    # The WACZ's own hashes, taken as it was written, are those of the file kept.
    data = path.read_bytes()
    # A reader that takes a member's data offset from the central directory (ReplayWeb.page
    # does, when the entry has no extra field) finds the WARC's first byte there.
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo("archive/data.warc")
    at = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    assert data[at:at + 9] == b"WARC/1.1\r", data[at - 24:at + 9]
    assert hashlib.sha256(data).hexdigest() == r["archive"]
    shown = invoke(db, "show", r["archive"], "--json").json()
    assert shown["md5"] == hashlib.md5(data).hexdigest() and shown["size"] == len(data)


def test_an_open_graph_video_page_gives_the_video_and_yt_dlp_info(db, server):
    r = _capture(db, f"{server.base}/og")
    video = next(f for f in r["files"] if f["role"] == "media")
    assert video["kind"] == "video" and video["url"] == f"{server.base}/media/og.mp4"
    assert video["yt_dlp"]["title"] == "Convoy at dawn"


def test_a_direct_mp4_link_is_one_video_held_in_the_warc_as_fetched(db, server):
    r = _capture(db, f"{server.base}/media/clip.mp4")
    media = [f for f in r["files"] if f["role"] == "media"]
    assert len(media) == 1 and media[0]["kind"] == "video"
    records = _warc_records(db, r["archive"])
    body = next(rec[3] for rec in records if rec[0] == "response")
    assert hashlib.sha256(body).hexdigest() == media[0]["sha256"]


def test_a_redirect_chain_is_recorded_hop_by_hop(db, server):
    r = _capture(db, f"{server.base}/r1")
    rec = invoke(db, "show", r["archive"], "--json").json()["collected"][0]["record"]
    assert [(h["status"], h["url"].rsplit("/", 1)[1]) for h in rec["status_chain"]] == [
        (302, "r1"), (301, "r2"), (200, "post")]
    assert rec["final_url"] == f"{server.base}/post"
    records = _warc_records(db, r["archive"])
    responses = [rec[1].get_header("WARC-Target-URI").rsplit("/", 1)[1]
                 for rec in records if rec[0] == "response"]
    assert responses[:3] == ["r1", "r2", "post"]


@pytest.mark.parametrize("path, args, reason", [
    ("/missing", (), "HTTP 404"),
    ("/stall", ("--timeout", "1"), "timed out"),
    ("/big", ("--max-size", "1M"), "over --max-size"),
    ("/big-undeclared", ("--max-size", "1M"), "over --max-size"),
    ("/loop", ("--max-redirects", "3"), "more than 3 redirects"),
    ("/to-file", (), "only http:// and https://"),
])
def test_a_failed_url_records_nothing_and_the_rest_goes_on(db, server, path, args, reason):
    before = _events(db)
    run = invoke(db, "capture", f"{server.base}{path}", *args)
    assert run.exit_code == 1
    assert reason in run.stderr and "Traceback" not in run.output
    assert _events(db) == before
    assert not list(store_dir(db).glob("capture-*"))  # its working folder is gone
    # In a batch, the good URL still goes in.
    run = invoke(db, "capture", f"{server.base}{path}", *args, f"{server.base}/og")
    assert run.exit_code == 1 and "captured" in run.stdout
    assert _events(db) > before


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://127.0.0.1/x.mp4",
                                 "javascript:alert(1)", "http://"])
def test_only_http_and_https_are_captured(db, url):
    run = invoke(db, "capture", url)
    assert run.exit_code == 1 and "only http:// and https://" in run.stderr
    assert _events(db) == 0


def test_a_captured_case_travels_in_a_bundle(db, server, tmp_path):
    r = _capture(db, f"{server.base}/og", "--case", "convoy")
    out = tmp_path / "case.zip"
    made = invoke(db, "bundle", "--case", "convoy", "--out", str(out))
    assert made.exit_code == 0, made.output
    target = tmp_path / "target.db"
    invoke(target, "init", check=True)
    got = invoke(target, "import", str(out), "--unsigned")
    assert got.exit_code == 0, got.output
    shown = invoke(target, "show", r["archive"], "--json").json()
    assert shown["collected"][0]["record"]["url"] == f"{server.base}/og"
    assert invoke(target, "verify", "--json").json()["ok"]


def test_a_content_type_that_lies_is_read_by_the_bytes(db, server):
    r = _capture(db, f"{server.base}/lying.html")  # a JPEG served as text/html
    media = [f for f in r["files"] if f["role"] == "media"]
    assert [m["kind"] for m in media] == ["image"]
    r = _capture(db, f"{server.base}/unlabelled")  # a page served as octet-stream
    assert [f["url"].rsplit("/", 1)[1] for f in r["files"] if f["role"] == "media"] == [
        "one.jpg"]


def test_a_page_that_changes_is_captured_again_and_show_says_what_changed(db, server):
    first = _capture(db, f"{server.base}/post")
    server.site.state["version"] = 2
    second = _capture(db, f"{server.base}/post")
    assert first["capture"] != second["capture"] and first["archive"] != second["archive"]
    changes = second["changes"]
    assert any(c.startswith("page changed since capture") for c in changes)
    assert any(c.startswith("new media") for c in changes)
    assert any(c.endswith("no longer on the page") for c in changes)
    shown = invoke(db, "show", second["archive"])
    assert "collected (1 capture(s))" in shown.stdout and "changed: page changed" in shown.stdout
    # The first capture is still there, whole.
    first_show = invoke(db, "show", first["archive"], "--json").json()
    assert first_show["collected"][0]["capture"] == first["capture"]
    assert invoke(db, "verify", "--json").json()["ok"]


def test_media_gone_at_source_is_recorded(db, server):
    _capture(db, f"{server.base}/post")
    direct = _capture(db, f"{server.base}/media/one.jpg")
    assert direct["status"] == "captured"
    server.site.state["media_gone"] = 1
    again = _capture(db, f"{server.base}/media/one.jpg")
    assert again["status"] == "gone"
    assert any(c.startswith("gone at source") for c in again["changes"])
    page = _capture(db, f"{server.base}/post")
    gone = [f for f in page["files"] if f["status"] == "gone"]
    assert {f["url"].rsplit("/", 1)[1] for f in gone} == {"clip.mp4", "one.jpg", "two.png"}
    shown = invoke(db, "show", page["archive"])
    assert "GONE AT SOURCE" in shown.stdout
    # A URL never captured that answers 410 is a failure, not a disappearance.
    run = invoke(db, "capture", f"{server.base}/media/never.jpg")
    assert run.exit_code == 1


def test_https_with_a_local_certificate_records_the_chain(db, site_files, tmp_path):
    site_files.state.update(version=1, media_gone=0)
    with web.serve(site_files, tls_dir=tmp_path / "tls") as srv:
        before = _events(db)
        untrusted = invoke(db, "capture", f"{srv.base}/post")
        assert untrusted.exit_code == 1 and "--ca-file" in untrusted.stderr
        assert _events(db) == before
        r = _capture(db, f"{srv.base}/post", "--ca-file", str(srv.ca_file))
    assert {f["kind"] for f in r["files"]} == {"archive", "video", "image"}
    rec = invoke(db, "show", r["archive"], "--json").json()["collected"][0]["record"]
    tls = rec["status_chain"][0]["tls"]
    assert tls["subject"] == "commonName=127.0.0.1" and "prov test CA" in tls["issuer"]
    ca_der = __import__("ssl").PEM_cert_to_DER_cert(srv.ca_file.read_text())
    assert tls["chain_sha256"][-1] == hashlib.sha256(ca_der).hexdigest()
    meta = [rec for rec in _warc_records(db, r["archive"]) if rec[0] == "metadata"]
    docs = [json.loads(m[3]) for m in meta]
    assert any("BEGIN CERTIFICATE" in "".join(d.get("tls", {}).get("chain_pem", []))
               for d in docs)


def test_exports_show_the_collection_record(posted, tmp_path):
    db, r = posted.db, posted.r
    video = next(f["sha256"] for f in r["files"] if f["kind"] == "video")
    for fmt in ("md", "html"):
        out = tmp_path / f"x.{fmt}"
        run = invoke(db, "export", video, "--format", fmt, "--out", str(out))
        assert run.exit_code == 0, run.output
        text = out.read_text()
        assert "Collected" in text and "status chain: 200" in text


def test_archives_in_give_items_sighted_at_the_warc_records_url_and_date(posted, tmp_path):
    db, r = posted.db, posted.r
    wacz = tmp_path / "in.wacz"
    shutil.copyfile(_stored(db, r["archive"]), wacz)
    other = tmp_path / "other.db"
    invoke(other, "init", check=True)
    run = invoke(other, "add", str(wacz), "--case", "received", "--json")
    assert run.exit_code == 0, run.output
    got = run.json()
    assert got[0]["kind"] == "archive"
    assert any("WACZ signature: unsigned" in w for w in got[0]["warnings"])
    media = {g["sha256"]: g for g in got[1:]}
    assert set(media) == {f["sha256"] for f in r["files"] if f["role"] == "media"}
    video = next(f for f in r["files"] if f["kind"] == "video")
    s = invoke(other, "show", video["sha256"], "--json").json()["sightings"][0]
    assert s["source_url"] == video["url"] and s["case_name"] == "received"
    # The time is the WARC record's, not this machine's clock at `prov add`.
    records = _warc_records(db, r["archive"])
    dates = {rec[1].get_header("WARC-Target-URI"): rec[1].get_header("WARC-Date")
             for rec in records if rec[0] in ("response", "resource")}
    assert s["seen_at"] == dates[video["url"]] and s["seen_at"] < s["recorded_at"]


def test_a_wacz_signature_is_checked(db, server, tmp_path):
    import base64

    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    r = _capture(db, f"{server.base}/og")
    src = _stored(db, r["archive"])
    key = ec.generate_private_key(ec.SECP256R1())
    spki = key.public_key().public_bytes(serialization.Encoding.DER,
                                         serialization.PublicFormat.SubjectPublicKeyInfo)

    def signed_copy(name: str, tamper: bool) -> Path:
        out = tmp_path / name
        with zipfile.ZipFile(src) as zin, zipfile.ZipFile(out, "w") as zout:
            for info in zin.infolist():
                data = zin.read(info)
                if info.filename == "datapackage-digest.json":
                    digest = json.loads(data)
                    sig = key.sign(digest["hash"].encode(), ec.ECDSA(hashes.SHA256()))
                    digest["signedData"] = {
                        "hash": digest["hash"], "publicKey": base64.b64encode(spki).decode(),
                        "signature": base64.b64encode(sig[:-1] + bytes([sig[-1] ^ 1])
                                                      if tamper else sig).decode()}
                    data = json.dumps(digest).encode()
                zout.writestr(info, data)
        return out

    other = tmp_path / "other.db"
    invoke(other, "init", check=True)
    good = invoke(other, "add", str(signed_copy("good.wacz", False)), "--json").json()
    assert any(w.startswith("WACZ signature: valid") for w in good[0]["warnings"])
    bad = invoke(other, "add", str(signed_copy("bad.wacz", True)), "--json").json()
    assert any(w.startswith("WACZ signature: INVALID") for w in bad[0]["warnings"])


def test_capture_says_it_is_the_network_command(db):
    run = invoke(None, "capture", "--help")
    assert "network" in run.stdout


def test_a_damaged_archive_gives_one_line_and_keeps_what_was_readable(posted, tmp_path):
    import gzip

    db, r = posted.db, posted.r
    with zipfile.ZipFile(_stored(db, r["archive"])) as zf:
        warc = zf.read("archive/data.warc")
    # Each record gzipped on its own, as WARC tools write them, then the file cut short.
    records = warc.split(b"\r\n\r\nWARC/1.1\r\n")
    members = [gzip.compress(rec if i == 0 else b"WARC/1.1\r\n" + rec
                             + (b"\r\n\r\n" if i < len(records) - 1 else b""))
               for i, rec in enumerate(records)]
    members[0] = gzip.compress(records[0] + b"\r\n\r\n")
    whole = tmp_path / "whole.warc.gz"
    whole.write_bytes(b"".join(members))
    cut = tmp_path / "cut.warc.gz"
    data = whole.read_bytes()
    cut.write_bytes(data[: len(data) - 2000])
    other = tmp_path / "other.db"
    invoke(other, "init", check=True)
    ok = invoke(other, "add", str(whole), "--json")
    assert ok.exit_code == 0, ok.output
    assert len([g for g in ok.json() if g["status"] in ("new", "known")]) == 4  # archive + 3
    run = invoke(other, "add", str(cut), "--json")
    assert run.exit_code == 1 and "Traceback" not in run.output
    # The cut falls in the video, the last response, written as it downloaded: its digests
    # were in the record after it (cut off too); its WARC header's length tells.
    assert "clip.mp4 is cut short" in run.stderr
    assert run.json()[0]["kind"] == "archive"


def test_a_file_named_wacz_that_is_not_one_is_refused_in_one_line(db, tmp_path):
    fake = tmp_path / "fake.wacz"
    fake.write_bytes(b"this is not a zip file at all" * 10)
    run = invoke(db, "add", str(fake))
    assert run.exit_code == 1 and "Traceback" not in run.output
    assert "fake.wacz" in run.stderr and "not a readable WACZ" in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1
