"""Opening and migrating the database, concurrent writers, and surviving a crash."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from fixtures import media
from provenance.ledger.db import migrations, open_db

EXPECTED_SCHEMA = {
    "_migrations": ["name", "applied_at"],
    "meta": ["key", "value"],
    "events": ["seq", "recorded_at", "recorded_by", "type", "item", "payload", "leaf_hash",
               "chain_hash"],
    "items": ["sha256", "md5", "size", "mime", "kind", "stored", "registered_at",
              "registered_by", "registered_event", "width", "height", "captured_at",
              "captured_offset", "make", "model", "software", "orientation", "gps_latitude",
              "gps_longitude", "gps_altitude", "duration_seconds", "frame_rate", "codec",
              "page_count", "metadata_json", "raw_metadata_json"],
    "sightings": ["id", "item", "path", "file_name", "file_name_hex", "source_url",
                  "case_name", "title", "note", "recorded_at", "recorded_by"],
    "hashes": ["id", "item", "algorithm", "region", "frame_seconds", "page", "value",
               "quality"],
    "near_duplicates": ["id", "item", "other", "algorithm", "distance", "verdict",
                        "detail_json", "recorded_at", "recorded_by"],
    "actors": ["id", "name", "kind", "url", "note", "recorded_at", "recorded_by"],
    "custody": ["id", "item", "action", "from_actor", "to_actor", "at_text", "at_precision",
                "at_approximate", "at_earliest", "at_latest", "url", "note", "asserted_by",
                "recorded_at", "recorded_by"],
    "claims": ["id", "item", "latitude", "longitude", "radius_m", "place", "place_geonameid",
               "claimant", "method", "confidence", "source_url", "note", "status",
               "recorded_at", "recorded_by"],
    "claim_reviews": ["id", "claim", "status", "reason", "recorded_at", "recorded_by"],
    "timestamps": ["id", "events", "head", "gen_time", "tsa", "tsa_name", "serial", "policy",
                   "response", "recorded_at", "recorded_by"],
}


def test_a_blank_database_migrates_to_exactly_this_schema(tmp_path):
    conn = open_db(tmp_path / "blank.db", create=True)
    tables = {
        name: [c[1] for c in conn.execute(f"PRAGMA table_info({name})")]
        for (name,) in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            " AND name NOT LIKE '%_fts%'")
    }
    assert tables == EXPECTED_SCHEMA
    triggers = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='trigger'")}
    assert {"events_no_update", "events_no_delete", "events_next_seq", "meta_no_update",
            "meta_no_delete"} <= triggers
    assert [r[0] for r in conn.execute("SELECT name FROM _migrations ORDER BY name")][0] == (
        "0001_schema")


def test_open_sets_wal_foreign_keys_and_a_busy_timeout(tmp_path):
    conn = open_db(tmp_path / "x.db", create=True)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert conn.execute("PRAGMA busy_timeout").fetchone()[0] >= 10_000
    # Opening again migrates nothing twice.
    again = open_db(tmp_path / "x.db")
    assert again.execute("SELECT COUNT(*) FROM _migrations").fetchone()[0] == len(migrations())
    assert again.execute("SELECT COUNT(*) FROM meta WHERE key = 'database_id'").fetchone()[0] == 1


def test_a_file_that_is_not_a_database_is_refused_clearly(tmp_path):
    from typer.testing import CliRunner

    from provenance.cli import app

    bogus = tmp_path / "notes.db"
    bogus.write_text("not sqlite at all " * 100)
    result = CliRunner().invoke(app, ["--db", str(bogus), "list"])
    assert result.exit_code == 1 and "not a prov database" in result.stderr
    assert "Traceback" not in result.stderr


def _prov(db: Path, *args: str, **kw) -> subprocess.Popen:
    env = {**os.environ, "PROV_INVESTIGATOR": "worker"}
    return subprocess.Popen([sys.executable, "-m", "provenance", "--db", str(db), *args],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)


def test_four_processes_adding_at_once_all_land_and_verify(db, tmp_path):
    folders = []
    for p in range(4):
        folder = tmp_path / f"batch{p}"
        folder.mkdir()
        for i in range(50):
            (folder / f"{i:02}.jpg").write_bytes(
                media.jpeg_with_exif(1000 + p * 100 + i, size=(96, 72)))
        folders.append(folder)
    procs = [_prov(db, "add", str(f)) for f in folders]
    for proc in procs:
        _, stderr = proc.communicate(timeout=300)
        assert proc.returncode == 0, stderr.decode()
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT COUNT(*) FROM items").fetchone()[0] == 200
    # Two events per item; a "similar" relation between two of the photos may add more.
    assert conn.execute("SELECT COUNT(*) FROM events WHERE type IN"
                        " ('item.registered', 'sighting.recorded')").fetchone()[0] == 400
    assert conn.execute("SELECT COUNT(*) FROM near_duplicates WHERE verdict = 're-upload'"
                        ).fetchone()[0] == 0
    verify = _prov(db, "verify")
    out, err = verify.communicate(timeout=300)
    assert verify.returncode == 0, out.decode() + err.decode()


def test_a_killed_batch_leaves_only_whole_items_and_a_log_that_verifies(db, tmp_path):
    folder = tmp_path / "big"
    folder.mkdir()
    for i in range(300):
        (folder / f"{i:03}.jpg").write_bytes(media.jpeg_with_exif(5000 + i, size=(96, 72)))
    proc = _prov(db, "add", str(folder), start_new_session=True)
    conn = sqlite3.connect(db, timeout=30)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if conn.execute("SELECT COUNT(*) FROM items").fetchone()[0] >= 20:
            break
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    items = conn.execute("SELECT COUNT(*) FROM items").fetchone()[0]
    assert 20 <= items < 300, "the kill must land in the middle of the batch"
    # Every item is whole: its sighting is there and so is its stored original.
    assert conn.execute("SELECT COUNT(*) FROM items WHERE sha256 NOT IN"
                        " (SELECT item FROM sightings)").fetchone()[0] == 0
    verify = _prov(db, "verify", "--json")
    out, err = verify.communicate(timeout=300)
    assert verify.returncode == 0, out.decode() + err.decode()
    # And the batch can simply be run again: the rest goes in, nothing twice.
    again = _prov(db, "add", str(folder))
    again.communicate(timeout=300)
    assert conn.execute("SELECT COUNT(*) FROM items").fetchone()[0] == 300


def test_old_staged_copies_left_by_a_killed_process_are_swept(prov, db, tmp_path):
    staging = db.parent / "evidence.store" / "sha256" / "incoming"
    staging.mkdir(parents=True)
    old, young = staging / ".incoming-old", staging / ".incoming-young"
    old.write_bytes(b"half a file")
    young.write_bytes(b"another add is writing this")
    os.utime(old, (time.time() - 3 * 86_400,) * 2)
    photo = tmp_path / "a.jpg"
    photo.write_bytes(media.jpeg_with_exif(77, size=(96, 72)))
    assert prov("add", str(photo)).exit_code == 0
    assert not old.exists() and young.exists()
