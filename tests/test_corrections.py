"""Retracting and correcting custody events, claims, reviews and sightings; withdrawing and
reclassifying items: each one event, verified, shown struck through everywhere."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path

import pytest

from fixtures import media

from .conftest import invoke

CSCIS = "Ukrainian Center for Strategic Communication and Information Security"


@pytest.fixture
def item(photo_item) -> str:
    return photo_item(7, gps=media.SERGEEVKA, captured="2024:10:17 09:31:05", offset="+10:00")


def _custody(prov, item: str, *args: str) -> int:
    run = prov("custody", "add", item, *args)
    assert run.exit_code == 0, run.output
    return int(run.stdout.split()[2])


def _events(db: Path) -> int:
    return len(invoke(db, "log", "--json").json())


def test_a_retracted_custody_event_stays_struck_through_and_leaves_the_flags(prov, db, item):
    wrong = _custody(prov, item, "--action", "shared", "--from", CSCIS, "--to", "CNN",
                     "--at", "2024-10-01")  # before the capture: flagged
    assert any(f["flag"] == "before-capture" for f in
               prov("custody", "list", item, "--json").json()["flags"])
    run = prov("retract", str(wrong), "--reason", "typed the wrong month")
    assert run.exit_code == 0, run.output
    doc = prov("custody", "list", item, "--json").json()
    event = doc["events"][0]
    assert event["retracted"]["reason"] == "typed the wrong month"
    assert event["retracted"]["by"] == "tester" and event["superseded_by"] is None
    assert not any(f["event"] == wrong for f in doc["flags"])
    assert doc["ignored"] and "typed the wrong month" in doc["ignored"][0]
    shown = prov("show", item, "--json").json()
    entry = next(e for e in shown["custody"]["timeline"] if e.get("id") == wrong)
    assert "typed the wrong month" in entry["struck"]
    assert shown["corrections"][0]["what"] == "retracted"
    text = prov("show", item).stdout
    assert "[RETRACTED]" in text and "typed the wrong month" in text
    assert prov("verify").exit_code == 0


def test_each_export_format_and_the_item_page_strike_a_retracted_custody_event(
        prov, db, item, tmp_path):
    from provenance.serve import app as serve_app

    wrong = _custody(prov, item, "--action", "posted", "--from", "Telegram", "--at", "2024-10-20")
    prov("retract", str(wrong), "--reason", "posted by someone else")
    out = tmp_path / "r"
    for fmt in ("json", "md", "html"):
        assert prov("export", item, "--format", fmt, "--out", f"{out}.{fmt}").exit_code == 0
    exported = json.loads(Path(f"{out}.json").read_text())["items"][0]
    entry = next(e for e in exported["custody"]["timeline"] if e.get("id") == wrong)
    assert entry["event"]["retracted"]["reason"] == "posted by someone else"
    md = Path(f"{out}.md").read_text()
    assert "~~" in md and "posted by someone else" in md
    html = Path(f"{out}.html").read_text()
    assert "<del>" in html and "posted by someone else" in html
    ds = serve_app.build(db)
    page = asyncio.run(ds.client.get(f"/evidence/-/item/{item}"))
    assert page.status_code == 200
    assert "<del>" in page.text and "posted by someone else" in page.text


def test_a_correction_supersedes_and_verify_replays_it(prov, db, item):
    first = _custody(prov, item, "--action", "shared", "--from", CSCIS, "--to", "CNN",
                     "--at", "2024-10-18")
    run = prov("custody", "correct", str(first), "--at", "2024-10-19",
               "--reason", "CNN's log says the 19th")
    assert run.exit_code == 0, run.output
    doc = prov("custody", "list", item, "--json").json()
    old, new = doc["events"]
    assert old["superseded_by"] == new["id"] and old["retracted"] is None
    assert (new["at_text"], new["from_name"], new["to_name"]) == ("2024-10-19", CSCIS, "CNN")
    assert new["superseded_by"] is None
    again = prov("custody", "correct", str(first), "--at", "2024-10-20", "--reason", "x")
    assert again.exit_code == 2 and f"custody event {new['id']}" in again.stderr
    assert prov("verify").exit_code == 0


def test_verify_catches_a_hand_edited_correction(prov, db, item):
    first = _custody(prov, item, "--action", "shared", "--from", CSCIS, "--to", "CNN",
                     "--at", "2024-10-18")
    fixed = prov("custody", "correct", str(first), "--at", "2024-10-19", "--reason", "the 19th")
    correction = int(fixed.stdout.split()[2].rstrip(":"))
    assert prov("retract", str(correction), "--reason", "not ours").exit_code == 0
    assert prov("verify").exit_code == 0
    conn = sqlite3.connect(db)
    conn.execute("UPDATE corrections SET reason = 'the 17th'")
    conn.execute("UPDATE retractions SET reason = 'ours after all'")
    conn.commit()
    conn.close()
    bad = prov("verify", "--json")
    assert bad.exit_code == 1
    problems = " ".join(bad.json()["problems"])
    assert "table corrections" in problems and "table retractions" in problems


def test_a_claim_correction_and_a_retracted_review(prov, db, item):
    prov("geo", "claim", item, "--coords", "43.3491, 133.3597", "--by", "CNN",
         "--method", "geolocated")
    claim_id = prov("show", item, "--json").json()["claims"][0]["id"]
    assert prov("geo", "review", str(claim_id), "--status", "refuted",
                "--reason", "too far").exit_code == 0
    shown = prov("show", item, "--json").json()
    assert shown["claims"][0]["status"] == "refuted"
    review_id = shown["claims"][0]["reviews"][0]["id"]
    assert prov("retract", str(review_id), "--reason", "reviewed the wrong claim").exit_code == 0
    shown = prov("show", item, "--json").json()
    assert shown["claims"][0]["status"] == "unreviewed"
    assert shown["claims"][0]["reviews"][0]["retracted"]["reason"] == "reviewed the wrong claim"
    fixed = prov("geo", "correct", str(claim_id), "--coords", "44.2, 132.1",
                 "--reason", "recomputed")
    assert fixed.exit_code == 0, fixed.output
    shown = prov("show", item, "--json").json()
    old, new = shown["claims"]
    assert old["superseded_by"] == new["id"] and new["latitude"] == 44.2
    check = prov("geo", "check", item, "--json").json()
    assert f"claim #{claim_id} (superseded by #{new['id']})" in check["excluded"]
    assert prov("retract", str(new["id"]), "--reason", "no basis").exit_code == 0
    check = prov("geo", "check", item, "--json").json()
    assert f"claim #{new['id']} (retracted)" in check["excluded"]
    assert prov("verify").exit_code == 0


def test_a_sighting_added_twice_is_retracted(prov, db, tmp_path):
    photo = tmp_path / "a.jpg"
    photo.write_bytes(media.jpeg_with_exif(11))
    sha = prov("add", str(photo), "--case", "dprk", "--json").json()[0]["sha256"]
    prov("add", str(photo), "--case", "dprk", "--title", "same again")
    second = prov("show", sha, "--json").json()["sightings"][1]
    assert prov("retract", str(second["id"]), "--reason", "added twice").exit_code == 0
    sightings = prov("show", sha, "--json").json()["sightings"]
    assert sightings[1]["retracted"]["reason"] == "added twice"
    assert sightings[0]["retracted"] is None
    assert prov("verify").exit_code == 0


@pytest.mark.parametrize(("args", "says"), [
    (("999", "--reason", "x"), "no event 999"),
    (("1", "--reason", "x"), "registers an item"),
    (("{custody}", "--reason", "  "), "--reason cannot be empty"),
])
def test_bad_retractions_write_nothing(prov, db, item, args, says):
    custody = _custody(prov, item, "--action", "captured", "--from", "CNN")
    before = _events(db)
    run = prov("retract", *[a.replace("{custody}", str(custody)) for a in args])
    assert run.exit_code == 2 and says in run.stderr, run.output
    assert _events(db) == before


def test_retracting_twice_is_refused(prov, db, item):
    custody = _custody(prov, item, "--action", "captured", "--from", "CNN")
    assert prov("retract", str(custody), "--reason", "wrong").exit_code == 0
    before = _events(db)
    again = prov("retract", str(custody), "--reason", "wrong")
    assert again.exit_code == 2 and "already retracted" in again.stderr
    assert _events(db) == before


def test_a_withdrawn_item_is_kept_but_left_out_of_list_dupes_and_match(prov, db, tmp_path):
    base = tmp_path / "base.jpg"
    copy = tmp_path / "copy.jpg"
    from fixtures import images

    picture = images.photo(5)
    base.write_bytes(images.encode(picture, "JPEG", quality=95))
    copy.write_bytes(images.encode(images.resize(picture, 0.5), "JPEG", quality=80))
    original = prov("add", str(base), "--json").json()[0]["sha256"]
    added = prov("add", str(copy), "--json").json()[0]
    reupload = added["sha256"]
    assert added["matches"][0]["verdict"] == "re-upload", added
    assert len(prov("dupes", "--json").json()) == 1
    run = prov("retract", reupload[:10], "--reason", "a test copy, not evidence")
    assert run.exit_code == 0, run.output
    assert [i["sha256"] for i in prov("list", "--json").json()] == [original]
    listed = prov("list", "--include-withdrawn", "--json").json()
    assert [i["withdrawn"] for i in listed] == [False, True]
    assert prov("dupes", "--json").json() == []
    assert len(prov("dupes", "--include-withdrawn", "--json").json()) == 1
    matched = prov("match", original, "--json").json()
    assert reupload not in [m["sha256"] for m in matched["matches"]]
    assert matched["withdrawn_left_out"] == 1
    assert reupload in [m["sha256"] for m in
                        prov("match", original, "--include-withdrawn", "--json").json()["matches"]]
    shown = prov("show", reupload, "--json").json()
    assert shown["withdrawn"]["reason"] == "a test copy, not evidence"
    assert "WITHDRAWN" in prov("show", reupload).stdout
    again = prov("retract", reupload[:10], "--reason", "again")
    assert again.exit_code == 2 and "already withdrawn" in again.stderr
    # A new copy registered later is not pointed at the withdrawn item either; the relation
    # is still recorded (a fact about the pixels), and the add says one was left out.
    third = tmp_path / "third.jpg"
    third.write_bytes(images.encode(images.resize(picture, 0.4), "JPEG", quality=75))
    run = prov("add", str(third), "--json")
    added = run.json()[0]
    assert reupload not in [m["sha256"] for m in added["matches"]]
    assert original in [m["sha256"] for m in added["matches"]]
    assert added["withdrawn_left_out"] == 1
    fourth = tmp_path / "fourth.jpg"
    fourth.write_bytes(images.encode(images.resize(picture, 0.45), "JPEG", quality=70))
    assert "and 1 withdrawn item(s) it resembles" in prov("add", str(fourth)).stdout
    assert prov("verify").exit_code == 0


def test_reclassify_a_document_as_a_scan(prov, db, tmp_path):
    from fixtures import documents

    pdf = documents.write_questionnaire(tmp_path / "questionnaire.pdf", pages=2)
    sha = prov("add", str(pdf), "--json").json()[0]["sha256"]
    assert prov("show", sha, "--json").json()["kind"] == "document"
    run = prov("reclassify", sha[:8], "--kind", "scan", "--reason", "a scan of a paper form")
    assert run.exit_code == 0, run.output
    assert prov("show", sha, "--json").json()["kind"] == "scan"
    assert [i["kind"] for i in prov("list", "--json").json()] == ["scan"]
    refused = prov("reclassify", sha[:8], "--kind", "video")
    assert refused.exit_code == 2 and "cannot be reclassified as video" in refused.stderr
    assert prov("verify").exit_code == 0


def test_a_bundle_carrying_corrections_imports_with_them(tmp_path):
    source, target = tmp_path / "ana.db", tmp_path / "bob.db"
    invoke(source, "init", check=True)
    invoke(target, "init", check=True)
    photo = tmp_path / "p.jpg"
    photo.write_bytes(media.jpeg_with_exif(31))
    sha = invoke(source, "add", str(photo), "--case", "dprk", "--json", by="ana").json()[0][
        "sha256"]
    first = invoke(source, "custody", "add", sha, "--action", "shared", "--from", CSCIS, "--to",
                   "CNN", "--at", "2024-10-18", by="ana")
    seq = int(first.stdout.split()[2])
    second = invoke(source, "custody", "add", sha, "--action", "published", "--from", "CNN",
                    "--at", "2024-10-01", by="ana")
    invoke(source, "custody", "correct", str(seq), "--at", "2024-10-19", "--reason", "the 19th",
           by="ana", check=True)
    invoke(source, "retract", second.stdout.split()[2], "--reason", "wrong item", by="ana",
           check=True)
    invoke(source, "name", sha, "gate-photo", by="ana", check=True)
    invoke(source, "tag", sha, "uniforms", by="ana", check=True)
    invoke(source, "note", sha, "군복 지급", by="ana", check=True)
    out = tmp_path / "case.zip"
    invoke(source, "bundle", "--case", "dprk", "--out", str(out), by="ana", check=True)
    run = invoke(target, "import", str(out), "--unsigned", by="bob")
    assert run.exit_code == 0, run.output
    events = invoke(target, "custody", "list", "gate-photo", "--json").json()["events"]
    by_action = {(e["action"], e["at_text"]): e for e in events}
    assert by_action[("shared", "2024-10-18")]["superseded_by"] == \
        by_action[("shared", "2024-10-19")]["id"]
    assert by_action[("published", "2024-10-01")]["retracted"]["reason"] == "wrong item"
    assert invoke(target, "list", "--tag", "uniforms", "--json").json()[0]["sha256"] == sha
    assert invoke(target, "verify").exit_code == 0


def test_the_views_mark_retracted_and_superseded_entries(prov, db, item):
    from provenance.serve import app as serve_app

    wrong = _custody(prov, item, "--action", "posted", "--from", "Telegram", "--at", "2024-10-20")
    moved = _custody(prov, item, "--action", "shared", "--from", CSCIS, "--to", "CNN",
                     "--at", "2024-10-18")
    prov("retract", str(wrong), "--reason", "someone else's post")
    prov("custody", "correct", str(moved), "--at", "2024-10-19", "--reason", "the 19th")
    prov("geo", "claim", item, "--coords", "43.3491, 133.3597", "--by", "CNN")
    claim = prov("show", item, "--json").json()["claims"][0]["id"]
    prov("retract", str(claim), "--reason", "no basis")
    prov("tag", item, "uniforms")
    conn = sqlite3.connect(db)
    rows = {r[0]: r[1:] for r in conn.execute(
        "SELECT id, retracted, superseded_by FROM custody_timeline")}
    assert "someone else's post" in rows[wrong][0] and rows[wrong][1] is None
    assert rows[moved][0] is None and rows[moved][1] is not None
    chain = conn.execute("SELECT chain FROM item_custody").fetchone()[0]
    assert "[RETRACTED: retracted by tester" in chain and "[SUPERSEDED by correction" in chain
    assert "no basis" in conn.execute("SELECT retracted FROM claim_checks").fetchone()[0]
    assert conn.execute("SELECT COUNT(*) FROM unverified_claims").fetchone()[0] == 0
    log = [r[0] for r in conn.execute("SELECT what FROM corrections_log ORDER BY id")]
    assert log == ["retracted", "corrected", "retracted"]
    # The map keeps the retracted claim, marked (migration 0018).
    label, why = conn.execute("SELECT label, retracted FROM map_points WHERE source = 'claim'"
                              ).fetchone()
    assert label.startswith("[RETRACTED] ") and "no basis" in why
    conn.close()
    exported = invoke(db, "export", "--format", "geojson", item).json()
    props = [f["properties"] for f in exported["features"] if f["properties"]["kind"] == "claim"]
    assert props[0]["label"].startswith("[RETRACTED] claim") and "no basis" in props[0]["struck"]
    ds = serve_app.build(db)
    facets = asyncio.run(ds.client.get("/evidence/current_tags.json?_facet=tag")).json()
    assert facets["facet_results"]["tag"]["results"][0]["value"] == "uniforms"
