"""`prov demo`: the seed case built from fixtures/ into a fresh demo database."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

from provenance.case import items as registry
from provenance.case import pagetext
from provenance.errors import UsageProblem
from provenance.ingest import register as ingest
from provenance.ledger.db import open_db, store_dir, transaction
from provenance.report import item as report

# The seed case's generators. The repository keeps fixtures/ at its top level and the wheel
# installs it as provenance.fixtures, so that no top-level `fixtures` package is installed;
# an editable install (a checkout) has the repository root on the path instead.
try:
    from provenance.fixtures.case import CASE, write_intercept, write_repost, write_seed_case
except ModuleNotFoundError as exc:
    if exc.name not in ("provenance.fixtures", "provenance.fixtures.case"):
        raise
    from fixtures.case import CASE, write_intercept, write_repost, write_seed_case


def _is_demo(path: Path) -> bool:
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            row = conn.execute("SELECT value FROM meta WHERE key = 'demo'").fetchone()
        finally:
            conn.close()
    except sqlite3.DatabaseError:
        return False
    return row is not None


def _fresh(path: Path) -> None:
    """Remove an earlier demo at `path`; refuse to touch anything that is not one."""
    if not path.exists():
        return
    if not _is_demo(path):
        raise UsageProblem(
            f"{path} exists and is not a prov demo database; pass --db with another path"
        )
    for suffix in ("", "-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    store = store_dir(path)
    if store.exists():
        for p in store.rglob("*"):
            p.chmod(0o700 if p.is_dir() else 0o600)
        shutil.rmtree(store)


def build(path: Path, *, by: str) -> tuple[dict[str, Any], list[str]]:
    """Build the seed case; return the arrival clip's report and what was done, line by line."""

    _fresh(path)
    gazetteer = _gazetteer_beside()
    conn = open_db(path, create=True)
    with transaction(conn):
        conn.execute("INSERT INTO meta VALUES ('demo', '1')")
    files = write_seed_case(path.parent / "seed-media")
    steps = [f"demo database: {path}"]
    titles = {
        "arrival": "Troops arriving at Sergeevka training camp (social media clip)",
        "uniforms": "North Korean soldiers receiving Russian uniforms (shared by CSCIS)",
        "questionnaire": "Sizing questionnaire (Russian header, Korean size options)",
    }
    shas: dict[str, str] = {}
    for name, file in files.items():
        results = ingest.add_paths(
            conn,
            [str(file)],
            ingest.Sighting(case=CASE, title=titles[name]),
            by=by,
            kind="scan" if name == "questionnaire" else None,
        )
        result = results[0]
        if result.sha256 is None:
            raise UsageProblem(f"demo fixture {file} failed to register: {result.error}")
        shas[name] = result.sha256
        steps.append(f"registered {name:<13} {result.sha256[:12]}  {file.name}")
        if name == "questionnaire":
            steps.extend(_page_text(conn, result.sha256))
    steps.extend(_repost(conn, files["arrival"], path.parent / "seed-media", by=by))
    steps.extend(_intercept(conn, path.parent / "seed-media", by=by))
    steps.extend(_attestations(conn, path.parent / "seed-media", by=by))
    steps.extend(_capture(conn, files["arrival"], by=by))
    # The custody and claims come last but one: the place-name claim needs the gazetteer,
    # which has had the media's analysis to build in.
    if gazetteer is not None:
        gazetteer.wait()  # a failed build is built (and reported) again where it is needed
    steps.extend(_story(conn, shas, by=by))
    steps.extend(_workflow(conn, shas, by=by))
    sha = registry.resolve(conn, shas["arrival"])
    return report.item_report(conn, sha), steps


def _gazetteer_beside() -> subprocess.Popen[bytes] | None:
    """On first use the offline gazetteer (needed by the demo's place-name claim) takes
    20-40 s to build, most of it Python on one core; build it in a process of its own while
    the demo analyses its media on the other. The build is atomic and safe to race, so the
    claim simply finds it there; it says on stderr that it is building, as it would inline."""
    from provenance.geo import gazetteer

    if gazetteer.cache_path().exists():
        return None
    return subprocess.Popen(
        [sys.executable, "-I", "-c",
         "from provenance.geo.gazetteer import ensure_cache; ensure_cache()"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)


def _page_text(conn: sqlite3.Connection, sha: str) -> list[str]:
    """What the questionnaire says, page by page, as read at registration (issue 18)."""
    out = []
    for r in pagetext.page_texts(conn, sha):
        means = "text layer" if r["source"] == "text-layer" else f"OCR, {r['engine']}"
        lines = [line for line in r["text"].splitlines() if line.strip()]
        out.append(f"  page {r['page']} ({means}): " + " | ".join(lines[:3]))
    return out


def _repost(conn: sqlite3.Connection, arrival: Path, folder: Path, *, by: str) -> list[str]:
    """A later re-post of the arrival clip, as an investigator would come across it."""

    repost = write_repost(arrival, folder)
    [result] = ingest.add_paths(conn, [str(repost)], ingest.Sighting(
        case=CASE, title="Re-post of the arrival clip (Telegram, watermarked)",
        source_url="https://t.me/s/frontline_reposts"), by=by)
    if result.sha256 is None:
        raise UsageProblem(f"demo fixture {repost} failed to register: {result.error}")
    steps = [f"registered {'repost':<13} {result.sha256[:12]}  {repost.name}"]
    for m in result.matches:
        covers = m["detail"].get("covers_seconds")
        where = f", seconds {covers[0]:g}-{covers[1]:g} of it" if covers else ""
        steps.append(f"  {m['verdict']} of {m['sha256'][:12]} ({m['algorithm']}{where})")
    return steps


def _intercept(conn: sqlite3.Connection, folder: Path, *, by: str) -> list[str]:
    """An intercepted call, then a re-post of its sound under footage that matches nothing."""

    files = write_intercept(folder)
    titles = {"intercept": "Intercepted radio call (audio, as circulated)",
              "call_repost": "Re-post: the call's audio under unrelated footage"}
    steps = []
    for name, file in files.items():
        [result] = ingest.add_paths(conn, [str(file)], ingest.Sighting(
            case=CASE, title=titles[name]), by=by)
        if result.sha256 is None:
            raise UsageProblem(f"demo fixture {file} failed to register: {result.error}")
        steps.append(f"registered {name:<13} {result.sha256[:12]}  {file.name}")
        if name == "questionnaire":
            steps.extend(_page_text(conn, result.sha256))
        for m in result.matches:
            covers = m["detail"].get("covers_seconds")
            where = f", seconds {covers[0]:g}-{covers[1]:g} of it" if covers else ""
            role = "same audio as" if m["verdict"] == "same audio" else f"{m['verdict']} of"
            steps.append(f"  {role} {m['sha256'][:12]} ({m['algorithm']}{where})")
    return steps
def _attestations(conn: sqlite3.Connection, folder: Path, *, by: str) -> list[str]:
    """One C2PA-signed photo (signed now, by a demo camera certificate made now and trusted
    as the investigator's anchor), and one checkpoint stamped by a local test authority
    (openssl, served on 127.0.0.1 for the demo's duration): nothing leaves the machine."""
    import json

    from provenance.ledger import checkpoint, timestamp
    from provenance.media import c2pa

    try:
        from provenance.fixtures import credentials, media, tsa
    except ModuleNotFoundError:
        from fixtures import credentials, media, tsa

    chain, key, root = credentials.make_authority("prov demo camera (C2PA)")
    anchors = folder / "demo-c2pa-root.pem"
    anchors.write_bytes(root)
    photo = folder / "gate_photo_unsigned.jpg"
    photo.write_bytes(media.jpeg_with_exif(seed=31, gps=(43.3491, 133.3597)))
    signed = credentials.sign(photo, folder / "gate_photo_signed.jpg", "image/jpeg", chain, key,
                              credentials.manifest("Gate of the Sergeevka camp", generator=
                                                   "prov demo camera"))
    with c2pa.trust_list(c2pa.load_trust(anchors)):
        [result] = ingest.add_paths(conn, [str(signed)], ingest.Sighting(
            case=CASE, title="Photo of the camp gate, C2PA-signed by the (demo) camera"), by=by)
    if result.sha256 is None:
        raise UsageProblem(f"demo fixture {signed} failed to register: {result.error}")
    meta = registry.get_item(conn, result.sha256)["metadata"]
    steps = [f"registered {'signed photo':<13} {result.sha256[:12]}  {signed.name}",
             f"  content credential: {c2pa.describe(meta.get('c2pa'))}"]
    if not tsa.available():
        return [*steps, "checkpoint not time-stamped: the openssl command is not installed"]
    authority = tsa.make_authority(folder / "demo-tsa", name="prov demo TSA")
    doc = checkpoint.make(conn, by=by)
    with tsa.serve(authority) as url:
        stamp = timestamp.stamp_head(url, doc["head"])
    timestamp.verify(stamp.response, doc["head"], authority.ca)
    timestamp.attach(conn, doc, stamp, tsa="local test authority (prov demo)", by=by)
    out = folder.parent / "checkpoint.json"
    out.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    return [*steps, f"checkpoint {out}: {stamp.sentence()}",
            f"  (a local test authority; check it: prov --db {folder.parent / 'evidence.db'}"
            f" verify --checkpoint {out} --tsa-cert {authority.ca})"]


def _capture(conn: sqlite3.Connection, arrival: Path, *, by: str) -> list[str]:
    """`prov capture` of a post carrying the arrival clip, served by the demo itself on
    127.0.0.1 for the duration: the clip gains a sighting and a collection record."""
    from provenance.ingest import capture

    try:
        from provenance.fixtures import images, web
    except ModuleNotFoundError:
        from fixtures import images, web

    site = web.Site(files={
        "/media/clip.mp4": (arrival, "video/mp4"),
        "/media/one.jpg": (images.encode(images.photo(41, (320, 240))), "image/jpeg"),
        "/media/two.png": (images.encode(images.photo(42, (200, 150)), "PNG"), "image/png"),
    })
    opts = capture.CaptureOptions(case=CASE, persona="demo_researcher",
                                  vpn="none (demo, loopback only)", render=False)
    with web.serve(site) as running:
        got = capture.capture(conn, f"{running.base}/post", opts, by=by)
    steps = [f"captured {got.url} (capture {got.capture}, WACZ {str(got.archive)[:12]})"]
    steps += [f"  {f['role']:<8} {str(f['sha256'])[:12]}  {f['url']}" for f in got.files]
    # What the capture secured before analysing it (a new video): analysed here, at once.
    from provenance.ingest import deferred

    for done in deferred.analyse_items(conn, got.pending, by=by):
        steps.append(f"  analysed {done.sha256[:12]}: {done.status}")
    return steps


CSCIS = "Ukrainian Center for Strategic Communication and Information Security"


def _story(conn: sqlite3.Connection, shas: dict[str, str], *, by: str) -> list[str]:
    """Custody and claims as the public reporting tells them (October 2024)."""
    from provenance.case import actors, claims, custody
    from provenance.ledger.db import transaction

    with transaction(conn):
        for name, kind, url in (
            (CSCIS, "organisation", "https://spravdi.gov.ua/"),
            ("CNN", "organisation", "https://edition.cnn.com/"),
            ("Telegram channel (unattributed)", "account", None),
        ):
            actors.create(conn, name, by=by, kind=kind, url=url)
    steps = []
    for key, event in (
        ("uniforms", custody.CustodyInput("obtained", to_actor=CSCIS, at="~2024-10")),
        ("uniforms", custody.CustodyInput("shared", from_actor=CSCIS, to_actor="CNN",
                                          at="2024-10-18", note="video and questionnaire")),
        ("questionnaire", custody.CustodyInput("shared", from_actor=CSCIS, to_actor="CNN",
                                               at="2024-10-18")),
        ("arrival", custody.CustodyInput("posted", from_actor="Telegram channel (unattributed)",
                                         at="2024-10-17", approximate=True)),
        ("arrival", custody.CustodyInput("downloaded", from_actor="CNN", at="2024-10-18")),
        ("arrival", custody.CustodyInput("published", from_actor="CNN",
                                         at="2024-10-18T12:00+00:00",
                                         url="https://edition.cnn.com/")),
    ):
        recorded = custody.record(conn, shas[key], event, by=by)
        steps.append(f"custody {recorded.id:>3}  {key:<13} {event.action}")
    cnn = claims.record(conn, shas["arrival"], claims.ClaimInput(
        coords="43.3491, 133.3597", place="Sergeevka training camp", claimant="CNN",
        method="geolocated", confidence="high", radius_m=1000,
        source_url="https://edition.cnn.com/",
        note="geolocated from barracks layout and ridge line"), by=by)
    steps.append(f"claim   {cnn.id:>3}  arrival       CNN: Sergeevka training camp")
    claims.review(conn, cnn.id, "verified",
                  "the file's own GPS agrees; the ridge line matches", by=by)
    caption = claims.record(conn, shas["arrival"], claims.ClaimInput(
        place="Sergeevka", geonameid=2020626, claimant="Telegram channel (unattributed)",
        method="caption", note="caption names 'Sergeevka' only; the wrong one of two"), by=by)
    steps.append(f"claim   {caption.id:>3}  arrival       Telegram caption: the other Sergeevka")
    claims.review(conn, caption.id, "refuted",
                  "150 km from the file's GPS and from CNN's geolocation", by=by)
    return steps


# The second investigator who signs the arrival clip off: never the one who submitted it.
DEMO_REVIEWER = "demo-reviewer"


def _workflow(conn: sqlite3.Connection, shas: dict[str, str], *, by: str) -> list[str]:
    """Two related incidents, the items that show them, and the arrival clip taken through
    review to completed with a second investigator's sign-off (issue 15)."""
    from provenance.case import incidents, workflow

    reviewer = DEMO_REVIEWER if not workflow.same_person(by, DEMO_REVIEWER) else "demo-reviewer-2"
    arrival = incidents.add(conn, incidents.IncidentInput(
        name="Troops arrive at Sergeevka training camp", at="2024-10",
        coords="43.3491, 133.3597", place="Sergeevka training camp", radius_m=2000,
        note="North Korean troops arrive at the camp near the border with China"), by=by)
    kit = incidents.add(conn, incidents.IncidentInput(
        name="Russian uniforms and kit handed out", at="~2024-10",
        note="North Korean soldiers receive Russian uniforms and a sizing questionnaire",
        related=["Troops arrive at Sergeevka training camp"]), by=by)
    incidents.link(conn, "Troops arrive at Sergeevka training camp", [shas["arrival"]], by=by)
    incidents.link(conn, "Russian uniforms and kit handed out",
                   [shas["uniforms"], shas["questionnaire"]], by=by)
    item = [shas["arrival"]]
    workflow.set_status(conn, item, "in-progress", by=by, assign=by,
                        note="geolocate and date the clip")
    workflow.set_status(conn, item, "ready-for-review", by=by,
                        note="geolocation verified against the file's GPS")
    workflow.review(conn, item, "approved", "ridge line and barracks re-checked independently",
                    by=reviewer)
    workflow.set_status(conn, item, "completed", by=by)
    workflow.set_status(conn, [shas["uniforms"], shas["questionnaire"]], "in-progress", by=by,
                        assign=by)
    return [f"incident {arrival.id:>3}  Troops arrive at Sergeevka training camp (2024-10)",
            f"incident {kit.id:>3}  Russian uniforms and kit handed out (~2024-10), related",
            f"review        arrival       submitted by {by}, approved by {reviewer}: completed"]
