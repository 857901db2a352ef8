"""`prov verify --since CHECKPOINT` and the recorded fixity schedule (--rehash-older-than)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from fixtures import media
from provenance.ledger import log
from tests.conftest import invoke

TRIGGERS = ("events_no_update", "events_no_delete", "events_next_seq")


@pytest.fixture
def checkpointed(prov, db, tmp_path):
    """Two photos, a checkpoint, then two more photos and a custody record after it."""
    folder = tmp_path / "in"
    folder.mkdir()
    for i in range(4):
        (folder / f"{i}.jpg").write_bytes(media.jpeg_with_exif(400 + i, size=(160, 120)))
    # --no-ocr: the tests count events; a picture that looks like a photographed page is
    # read by OCR at registration (issue 18), one more event.
    assert prov("add", str(folder / "0.jpg"), str(folder / "1.jpg"), "--no-ocr").exit_code == 0
    cp = tmp_path / "cp.json"
    assert prov("checkpoint", "--out", str(cp)).exit_code == 0
    assert prov("add", str(folder / "2.jpg"), str(folder / "3.jpg"), "--no-ocr").exit_code == 0
    return cp


def raw(db: Path) -> sqlite3.Connection:
    return sqlite3.connect(db, isolation_level=None)


def edit_payload(db: Path, seq: int, key: str, value: object) -> None:
    conn = raw(db)
    saved = [r[0] for r in conn.execute(
        "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'events'")]
    for name in TRIGGERS:
        conn.execute(f"DROP TRIGGER {name}")
    body = json.loads(conn.execute("SELECT payload FROM events WHERE seq = ?",
                                   (seq,)).fetchone()[0])
    body["data"][key] = value
    conn.execute("UPDATE events SET payload = ? WHERE seq = ?", (log.canonical(body), seq))
    for statement in saved:
        conn.execute(statement)


def test_since_checks_the_events_and_originals_after_the_checkpoint(prov, checkpointed):
    run = prov("verify", "--since", str(checkpointed), "--json")
    assert run.exit_code == 0, run.output
    doc = run.json()
    assert doc["ok"] and doc["events"] == 8 and doc["since"]["events"] == 4
    assert doc["files_checked"] == 2  # the two originals registered after it, not all four
    assert "from checkpoint at event 4" in prov("verify", "--since", str(checkpointed)).stdout


def test_full_chain_catches_an_event_edited_before_the_checkpoint(prov, db, checkpointed):
    edit_payload(db, 1, "make", "Canon")
    run = prov("verify", "--since", str(checkpointed), "--full-chain")
    assert run.exit_code == 1
    assert "event 1: payload does not match its hash (edited, before the checkpoint)" in run.stdout
    # Without --full-chain the log before the checkpoint is not read: the full verify is
    # what catches this edit (the README says so).
    assert prov("verify", "--since", str(checkpointed)).exit_code == 0
    assert "event 1 (item.registered): payload does not match" in prov("verify").stdout


def test_full_chain_needs_since(prov, checkpointed):
    run = prov("verify", "--full-chain")
    assert run.exit_code == 2 and "--since" in run.stderr


def test_since_catches_a_consistent_rewrite_before_the_checkpoint(prov, db, checkpointed):
    """Payload edited and every hash after it recomputed: only the checkpoint can tell."""
    edit_payload(db, 2, "note", "rewritten")
    conn = raw(db)
    for name in TRIGGERS:
        conn.execute(f"DROP TRIGGER {name}")
    previous = log.genesis(conn.execute(
        "SELECT value FROM meta WHERE key = 'database_id'").fetchone()[0])
    for seq, payload in conn.execute("SELECT seq, payload FROM events ORDER BY seq").fetchall():
        leaf = log.leaf_hash(payload)
        previous = log.chain_hash(previous, leaf)
        conn.execute("UPDATE events SET leaf_hash = ?, chain_hash = ? WHERE seq = ?",
                     (leaf, previous, seq))
    run = prov("verify", "--since", str(checkpointed))
    assert run.exit_code == 1
    assert "history rewritten" in run.stdout


def test_since_catches_an_event_edited_after_the_checkpoint(prov, db, checkpointed):
    edit_payload(db, 6, "note", "edited")
    run = prov("verify", "--since", str(checkpointed))
    assert run.exit_code == 1 and "event 6 " in run.stdout and "edited" in run.stdout


def test_since_catches_a_new_items_row_edited(prov, db, checkpointed):
    raw(db).execute("UPDATE items SET make = 'Canon' WHERE registered_event > 4")
    run = prov("verify", "--since", str(checkpointed))
    assert run.exit_code == 1 and "column make is 'Canon'" in run.stdout


def test_since_catches_rows_deleted_or_inserted_before_the_checkpoint(prov, db, checkpointed):
    conn = raw(db)
    conn.execute("DELETE FROM sightings WHERE id = 2")
    item = conn.execute("SELECT sha256 FROM items LIMIT 1").fetchone()[0]
    conn.execute("INSERT INTO sightings (id, item, path, recorded_at, recorded_by)"
                 " VALUES (3, ?, '/fake', 'x', 'y')", (item,))
    run = prov("verify", "--since", str(checkpointed))
    assert run.exit_code == 1
    assert "table sightings: row 2 is missing" in run.stdout
    assert "table sightings: row 3 is not in the log" in run.stdout


def test_since_catches_a_new_original_modified(prov, db, checkpointed):
    sha = raw(db).execute("SELECT sha256 FROM items WHERE registered_event > 4").fetchone()[0]
    stored = db.parent / "evidence.store" / "sha256" / sha[:2] / sha[2:4] / sha
    stored.chmod(0o600)
    stored.write_bytes(stored.read_bytes() + b"x")
    run = prov("verify", "--since", str(checkpointed))
    assert run.exit_code == 1 and f"stored original {sha} has been modified" in run.stdout


def test_since_refuses_a_checkpoint_of_another_database(prov, checkpointed, tmp_path):
    other = tmp_path / "other.db"
    invoke(other, "init", check=True)
    run = invoke(other, "verify", "--since", str(checkpointed))
    assert run.exit_code == 2
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and "belongs to another database" in lines[0], run.output


def test_since_refuses_a_file_that_is_no_checkpoint(prov, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2]")
    run = prov("verify", "--since", str(bad))
    assert run.exit_code == 2 and "not a prov checkpoint" in run.stderr


def test_since_reports_truncation(prov, db, checkpointed):
    conn = raw(db)
    for name in TRIGGERS:
        conn.execute(f"DROP TRIGGER {name}")
    conn.execute("DELETE FROM events WHERE seq > 2")
    run = prov("verify", "--since", str(checkpointed))
    assert run.exit_code == 1 and "log truncated" in run.stdout


def test_the_fixity_schedule_rehashes_what_is_due_and_records_each_run(prov, db, checkpointed):
    first = prov("verify", "--rehash-older-than", "90d", "--json").json()
    assert first["ok"] and first["files_checked"] == 4 and first["fixity_event"] == 9
    # One event per run, not one per original; nothing is due the second time.
    second = prov("verify", "--rehash-older-than", "90d", "--json").json()
    assert second["ok"] and second["files_checked"] == 0 and second["fixity_event"] is None
    assert second["events"] == 9
    row = raw(db).execute("SELECT type, payload FROM events WHERE seq = 9").fetchone()
    assert row[0] == "fixity.checked"
    assert json.loads(row[1])["data"]["originals"] == 4
    # An age of zero days makes every original due again; the full verify still passes.
    assert prov("verify", "--rehash-older-than", "0d", "--json").json()["files_checked"] == 4
    assert prov("verify").exit_code == 0


def test_a_fixity_row_edited_is_caught_and_its_originals_are_due_again(prov, db, checkpointed):
    assert prov("verify", "--rehash-older-than", "90d").exit_code == 0
    conn = raw(db)
    conn.execute("DROP TRIGGER fixity_checks_no_delete")
    conn.execute("DELETE FROM fixity_checks WHERE item = (SELECT MIN(item) FROM fixity_checks)")
    run = prov("verify", "--rehash-older-than", "90d", "--json")
    doc = run.json()
    assert run.exit_code == 1 and doc["files_checked"] == 4
    assert any("fixity checks of event 9" in p for p in doc["problems"])
    assert any("log protection removed" in p for p in doc["problems"])


def test_a_damaged_original_found_by_the_schedule_is_recorded_and_stays_due(prov, db,
                                                                            checkpointed):
    sha = raw(db).execute("SELECT sha256 FROM items LIMIT 1").fetchone()[0]
    stored = db.parent / "evidence.store" / "sha256" / sha[:2] / sha[2:4] / sha
    stored.chmod(0o600)
    stored.write_bytes(b"damaged")
    run = prov("verify", "--rehash-older-than", "90d", "--json")
    assert run.exit_code == 1 and run.json()["fixity_event"] == 9
    assert raw(db).execute("SELECT result FROM fixity_checks WHERE item = ?",
                           (sha,)).fetchone()[0] == "modified"
    assert prov("verify", "--rehash-older-than", "90d", "--json").json()["files_checked"] == 1


def test_rehash_options_are_checked(prov, checkpointed):
    run = prov("verify", "--rehash-older-than", "soon")
    assert run.exit_code == 2 and "90d" in run.stderr
    run = prov("verify", "--rehash-older-than", "9d", "--no-rehash")
    assert run.exit_code == 2
    doc = prov("verify", "--no-rehash", "--json").json()
    assert doc["ok"] and doc["files_checked"] == 0


def test_since_replays_work_that_builds_on_actors_and_incidents_from_before(prov, db,
                                                                           tmp_path):
    """Events after the checkpoint that build on item-less events before it (an actor merged
    and renamed, an incident linked and related, a custody event retracted, a status) replay
    cleanly: no false alarm. Found on the merged tree: the replay lacked the actors."""
    folder = tmp_path / "in"
    folder.mkdir()
    for i in range(2):
        (folder / f"{i}.jpg").write_bytes(media.jpeg_with_exif(470 + i, size=(160, 120)))
    prov("add", str(folder / "0.jpg"), str(folder / "1.jpg"), "--case", "c")
    a, b = (it["sha256"] for it in prov("list", "--json").json())
    prov("actor", "add", "CSCIS", "--kind", "organisation")
    prov("actor", "add", "Center X", "--kind", "organisation")
    prov("incident", "add", "Arrival", "--at", "2024-10-17")
    custody = int(prov("custody", "add", a, "--action", "shared", "--from", "CSCIS", "--to",
                       "CNN", "--at", "2024-10-18").stdout.split()[2])
    cp = tmp_path / "cp.json"
    prov("checkpoint", "--out", str(cp))
    prov("incident", "link", "Arrival", a, b)
    prov("incident", "add", "Second", "--related", "Arrival")
    prov("actor", "merge", "Center X", "CSCIS", "--reason", "one body")
    prov("actor", "rename", "CSCIS", "CSCIS Ukraine")
    prov("retract", str(custody), "--reason", "wrong date")
    prov("custody", "add", a, "--action", "shared", "--from", "CSCIS Ukraine", "--to", "CNN",
         "--at", "2024-10-19")
    prov("status", a, "in-progress", "--assign", "bob")
    prov("tag", b, "convoy")
    run = invoke(db, "verify", "--since", str(cp))
    assert run.exit_code == 0, run.output
    # And a hand edit of a row the new events made is still caught.
    conn = raw(db)
    conn.execute("UPDATE actors SET name = 'forged' WHERE name = 'CSCIS Ukraine'")
    conn.close()
    run = invoke(db, "verify", "--since", str(cp))
    assert run.exit_code == 1 and "actors" in run.output
