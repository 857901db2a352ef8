"""Deferred analysis (issue 16): `prov capture` secures a video first, `prov analyse` records
its perceptual analysis (item.analysed) and the re-upload check afterwards."""

from __future__ import annotations

import fcntl
import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fixtures import video, web
from provenance.ledger import log
from provenance.ledger.db import store_dir

from .conftest import invoke
from .test_log import drop_triggers, restore_triggers


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> web.Site:
    return web.build_site(tmp_path_factory.mktemp("site"), video_seconds=4.0)


@pytest.fixture
def server(site: web.Site):
    site.state.update(version=1, media_gone=0)
    with web.serve(site) as running:
        yield running


@pytest.fixture(autouse=True)
def _no_browser(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROV_CHROMIUM", "")


def _capture(db: Path, url: str, *args: str) -> dict:
    run = invoke(db, "capture", url, *args, "--json")
    assert run.exit_code == 0, run.output
    return run.json()[0]


def _video(r: dict) -> str:
    return next(f["sha256"] for f in r["files"] if f["kind"] == "video")


def _events(db: Path, kind: str, item: str | None = None) -> list[dict]:
    conn = sqlite3.connect(db)
    rows = conn.execute("SELECT payload FROM events WHERE type = ?"
                        + (" AND item = ?" if item else ""),
                        (kind, item) if item else (kind,)).fetchall()
    return [json.loads(r[0]) for r in rows]


def _hash_rows(db: Path, sha: str) -> int:
    return sqlite3.connect(db).execute("SELECT COUNT(*) FROM hashes WHERE item = ?",
                                       (sha,)).fetchone()[0]


def _stored(db: Path, sha: str) -> Path:
    return store_dir(db) / "sha256" / sha[:2] / sha[2:4] / sha


def test_a_captured_video_is_secured_first_and_analysed_by_prov_analyse(db, server):
    r = _capture(db, f"{server.base}/media/clip.mp4")
    sha = _video(r)
    assert r["analysis_pending"] == [sha]
    # Secured: its hashes, stored copy and container metadata, in the log and the store.
    [reg] = _events(db, "item.registered", sha)
    assert reg["data"]["analysis"] == "deferred" and reg["data"]["hashes"] == []
    assert reg["data"]["metadata"]["duration_seconds"] == 4 and _stored(db, sha).is_file()
    shown = invoke(db, "show", sha)
    assert "analysis pending" in shown.stdout
    assert invoke(db, "show", sha, "--json").json()["analysis"]["state"] == "pending"
    assert _hash_rows(db, sha) == 0
    # The archive, which holds no pictures to analyse, was never pending.
    assert invoke(db, "show", r["archive"], "--json").json()["analysis"] is None
    # Matching says what it cannot find yet; captured again, it is still waiting.
    matched = invoke(db, "match", r["archive"])
    assert "1 held item(s) await their analysis" in matched.stderr
    assert _capture(db, f"{server.base}/media/clip.mp4")["analysis_pending"] == [sha]

    run = invoke(db, "analyse")
    assert run.exit_code == 0, run.output
    assert f"analysed {sha[:12]}" in run.stdout
    [done] = _events(db, "item.analysed", sha)
    assert done["data"]["hashes"] and _hash_rows(db, sha) == len(done["data"]["hashes"])
    assert done["data"]["metadata"]["frames_hashed"] >= 4
    shown = invoke(db, "show", sha, "--json").json()
    assert shown["analysis"]["state"] == "analysed" and shown["analysis"]["event"] == done["seq"]
    assert shown["metadata"]["frames_hashed"] == done["data"]["metadata"]["frames_hashed"]
    assert "analysed after capture" in invoke(db, "show", sha).stdout
    assert invoke(db, "verify", "--json").json()["ok"]
    # Nothing is analysed twice: no argument finds nothing pending; naming it skips it.
    assert "no item is waiting" in invoke(db, "analyse").stdout
    again = invoke(db, "analyse", sha[:10])
    assert again.exit_code == 0 and "already analysed" in again.stdout
    assert len(_events(db, "item.analysed")) == 1
    # An item `prov add` registered was analysed then: nothing to do.
    photo = next(f["sha256"] for f in _capture(db, f"{server.base}/media/one.jpg")["files"]
                 if f["kind"] == "image")
    assert "analysed when it was registered" in invoke(db, "analyse", photo).stdout


def test_the_re_upload_check_runs_when_a_captured_video_is_analysed(db, server, site,
                                                                      tmp_path):
    held = video.transcode(site.files["/media/clip.mp4"][0], tmp_path / "held.mp4",
                           options={"crf": "30"}, transform=video.resize(240, 144))
    added = invoke(db, "add", str(held), "--json")
    assert added.exit_code == 0, added.output
    held_sha = added.json()[0]["sha256"]
    # --analyse now: analysed (and checked) before `prov capture` returns.
    run = invoke(db, "capture", f"{server.base}/post", "--analyse", "now")
    assert run.exit_code == 0, run.output
    assert f"re-upload of {held_sha[:12]}" in run.stdout
    r = _capture(db, f"{server.base}/post", "--analyse", "now")  # known now: nothing pending
    sha = _video(r)
    assert r["analysis_pending"] == [] and "analysis" not in r
    [done] = _events(db, "item.analysed", sha)
    assert held_sha in done["data"]["near_duplicates"]
    found = [e for e in _events(db, "near_duplicate.found", sha)
             if e["data"]["other"] == held_sha]
    assert found and found[0]["data"]["verdict"] == "re-upload"
    shown = invoke(db, "show", sha, "--json").json()
    assert held_sha in {n["counterpart"] for n in shown["near_duplicates"]}


def test_verify_catches_an_edited_item_analysed_and_a_hash_row_removed(db, server):
    sha = _video(_capture(db, f"{server.base}/media/og.mp4"))
    assert invoke(db, "analyse").exit_code == 0
    [done] = _events(db, "item.analysed", sha)
    conn = sqlite3.connect(db, isolation_level=None)
    saved = drop_triggers(conn)
    edited = dict(done)
    edited["data"] = {**done["data"], "hashes": done["data"]["hashes"][1:]}
    conn.execute("UPDATE events SET payload = ? WHERE seq = ?",
                 (log.canonical(edited), done["seq"]))
    restore_triggers(conn, saved)
    run = invoke(db, "verify", "--json")
    assert run.exit_code == 1
    assert any(p.startswith(f"event {done['seq']} ") and "edited" in p
               for p in run.json()["problems"])
    # Put back, the log verifies; a hash row the analysis added, deleted, is caught by replay.
    saved = drop_triggers(conn)
    conn.execute("UPDATE events SET payload = ? WHERE seq = ?",
                 (log.canonical(done), done["seq"]))
    restore_triggers(conn, saved)
    assert invoke(db, "verify", "--json").json()["ok"]
    conn.execute("DELETE FROM hashes WHERE id = (SELECT MAX(id) FROM hashes WHERE item = ?)",
                 (sha,))
    run = invoke(db, "verify", "--json")
    assert run.exit_code == 1 and any("table hashes" in p for p in run.json()["problems"])


def test_a_bundle_carries_item_analysed_and_a_pending_item_is_analysed_on_arrival(
        db, server, tmp_path):
    analysed = _video(_capture(db, f"{server.base}/media/og.mp4", "--case", "convoy"))
    assert invoke(db, "analyse", analysed).exit_code == 0
    pending = _video(_capture(db, f"{server.base}/media/clip.mp4", "--case", "convoy"))
    out = tmp_path / "case.zip"
    made = invoke(db, "bundle", "--case", "convoy", "--out", str(out))
    assert made.exit_code == 0, made.output
    target = tmp_path / "target.db"
    invoke(target, "init", check=True)
    got = invoke(target, "import", str(out), "--unsigned")
    assert got.exit_code == 0, got.output
    assert invoke(target, "verify", "--json").json()["ok"]
    there = invoke(target, "show", analysed, "--json").json()
    assert there["analysis"]["state"] == "analysed"
    assert _hash_rows(target, analysed) == _hash_rows(db, analysed) > 0
    # The original came with the bundle: the receiver can analyse what the sender had not.
    assert invoke(target, "show", pending, "--json").json()["analysis"]["state"] == "pending"
    run = invoke(target, "analyse")
    assert run.exit_code == 0 and f"analysed {pending[:12]}" in run.stdout
    assert invoke(target, "verify", "--json").json()["ok"]


def test_two_analyses_at_once_analyse_an_item_once(db, server):
    sha = _video(_capture(db, f"{server.base}/media/clip.mp4"))
    # Another `prov analyse` holds the item's lock: this one leaves it alone.
    lock = store_dir(db) / "sha256" / "incoming" / f".analysing-{sha}"
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        run = invoke(db, "analyse", sha)
        assert run.exit_code == 0 and "being analysed by another" in run.stdout
        assert _events(db, "item.analysed") == []
    finally:
        os.close(fd)
    # Two processes started together: one analyses, the other finds it taken or done.
    cmd = [sys.executable, "-m", "provenance", "--db", str(db), "analyse", "--json"]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    statuses = sorted(o["status"] for out, _ in outs for o in json.loads(out))
    assert statuses.count("analysed") == 1, statuses
    assert len(_events(db, "item.analysed", sha)) == 1
    assert invoke(db, "verify", "--json").json()["ok"]


def test_a_second_item_analysed_cannot_be_recorded(db, server):
    """The applier's own check, inside the transaction: whatever the locks did."""
    from provenance.ledger.db import open_db, transaction

    sha = _video(_capture(db, f"{server.base}/media/clip.mp4"))
    assert invoke(db, "analyse").exit_code == 0
    conn = open_db(db)
    with pytest.raises(ValueError, match="not pending"), transaction(conn):
        log.record(conn, "item.analysed", {"sha256": sha, "hashes": []}, by="x", item=sha)
    assert len(_events(db, "item.analysed")) == 1


@pytest.mark.parametrize("damage, says", [("corrupt", "stored original is modified"),
                                          ("missing", "stored original is missing")])
def test_a_damaged_original_at_analysis_time_gives_one_line(db, server, damage, says):
    r = _capture(db, f"{server.base}/post")
    sha = _video(r)
    stored = _stored(db, sha)
    os.chmod(stored, 0o600)
    if damage == "corrupt":
        data = bytearray(stored.read_bytes())
        data[len(data) // 2] ^= 0xFF
        stored.write_bytes(bytes(data))
    else:
        stored.unlink()
    run = invoke(db, "analyse")
    assert run.exit_code == 1 and "Traceback" not in run.output
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and sha[:12] in lines[0] and says in lines[0], run.stderr
    assert "stays pending" in lines[0]
    assert _events(db, "item.analysed") == []
    assert invoke(db, "show", sha, "--json").json()["analysis"]["state"] == "pending"


def test_capture_starts_the_analysis_in_the_background_and_returns(db, server):
    run = invoke(db, "capture", f"{server.base}/media/clip.mp4", "--analyse", "background")
    assert run.exit_code == 0, run.output
    line = next(x for x in run.stdout.splitlines() if "in the background" in x)
    assert "analysing 1 item(s) in the background (process" in line
    sha = invoke(db, "list", "--kind", "video", "--json").json()[0]["sha256"]
    deadline = time.monotonic() + 120
    while invoke(db, "show", sha, "--json").json()["analysis"]["state"] == "pending":
        assert time.monotonic() < deadline, "the background analysis never finished"
        time.sleep(0.5)
    assert invoke(db, "show", sha, "--json").json()["analysis"]["state"] == "analysed"
    logged = (store_dir(db) / "analyse.log").read_text()
    assert f"analysed {sha[:12]}" in logged


def test_an_item_name_typed_wrong_gets_one_line_and_nothing_is_recorded(db):
    invoke(db, "init", check=True)
    before = invoke(db, "log", "--json").output
    got = invoke(db, "analyse", "deadbeef")
    assert got.exit_code == 2
    assert "no item matches 'deadbeef'" in got.output
    assert "Traceback" not in got.output
    assert invoke(db, "log", "--json").output == before
