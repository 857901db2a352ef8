"""The hash-chained log: every kind of tampering makes `prov verify` fail and say where."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from fixtures import media
from provenance.ledger import log
from provenance.ledger.db import connect

# Each test twice: the chain checked inline, and by the worker process.
pytestmark = pytest.mark.usefixtures("verify_path")

TRIGGERS = ("events_no_update", "events_no_delete", "events_next_seq")


@pytest.fixture
def filled(prov, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    for i in range(3):
        (folder / f"{i}.jpg").write_bytes(media.jpeg_with_exif(200 + i, size=(160, 120)))
    # --no-ocr: these tests count events, and a picture that looks like a photographed page
    # is read by OCR at registration (issue 18), one more event.
    assert prov("add", str(folder), "--no-ocr").exit_code == 0
    return prov


def raw(db: Path) -> sqlite3.Connection:
    return sqlite3.connect(db, isolation_level=None)


def drop_triggers(conn: sqlite3.Connection) -> list[str]:
    sql = [r[0] for r in conn.execute(
        "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'events'")]
    for name in TRIGGERS:
        conn.execute(f"DROP TRIGGER {name}")
    return sql


def restore_triggers(conn: sqlite3.Connection, sql: list[str]) -> None:
    for statement in sql:
        conn.execute(statement)


def test_a_fresh_log_verifies(filled):
    run = filled("verify", "--json")
    assert run.exit_code == 0
    doc = run.json()
    assert doc["ok"] is True and doc["events"] == 6 and doc["problems"] == []
    assert len(doc["head"]) == 64


def test_the_log_refuses_update_delete_and_insert_or_replace(filled, db):
    conn = raw(db)
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute("UPDATE events SET recorded_by = 'mallory' WHERE seq = 2")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute("DELETE FROM events WHERE seq = 6")
    row = conn.execute("SELECT * FROM events WHERE seq = 2").fetchone()
    with pytest.raises(sqlite3.IntegrityError, match="consecutive"):
        conn.execute("INSERT OR REPLACE INTO events VALUES (?, ?, ?, ?, ?, ?, ?, ?)", row)
    with pytest.raises(sqlite3.IntegrityError, match="consecutive"):
        conn.execute("INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?, ?)", (9, *row[1:]))
    assert filled("verify").exit_code == 0


def test_editing_a_projection_row_is_named(filled, db):
    raw(db).execute("UPDATE items SET make = 'Canon' WHERE rowid = 1")
    run = filled("verify")
    assert run.exit_code == 1
    assert "table items" in run.stdout and "column make is 'Canon'" in run.stdout


def test_a_row_inserted_by_hand_is_named(filled, db):
    conn = raw(db)
    item = conn.execute("SELECT sha256 FROM items LIMIT 1").fetchone()[0]
    conn.execute("INSERT INTO sightings (id, item, path, recorded_at, recorded_by)"
                 " VALUES (999, ?, '/fake', 'x', 'y')", (item,))
    run = filled("verify")
    assert run.exit_code == 1 and "sightings: row 999 is not in the log" in run.stdout


def test_editing_an_event_payload_is_named(filled, db):
    conn = raw(db)
    sql = drop_triggers(conn)
    payload = json.loads(conn.execute("SELECT payload FROM events WHERE seq = 3").fetchone()[0])
    payload["data"]["make"] = "Canon"
    conn.execute("UPDATE events SET payload = ? WHERE seq = 3", (log.canonical(payload),))
    restore_triggers(conn, sql)
    run = filled("verify", "--json")
    assert run.exit_code == 1
    assert any(p.startswith("event 3 ") and "edited" in p for p in run.json()["problems"])


def test_deleting_a_middle_event_is_named(filled, db):
    conn = raw(db)
    drop_triggers(conn)
    conn.execute("DELETE FROM events WHERE seq = 4")
    run = filled("verify")
    assert run.exit_code == 1
    assert "event 4 is missing" in run.stdout
    assert "log protection removed" in run.stdout


def test_insert_or_replace_without_triggers_is_caught(filled, db):
    conn = raw(db)
    sql = drop_triggers(conn)
    row = list(conn.execute("SELECT * FROM events WHERE seq = 5").fetchone())
    body = json.loads(row[5])
    body["recorded_by"] = "mallory"
    row[2], row[5] = "mallory", log.canonical(body)
    conn.execute("INSERT OR REPLACE INTO events VALUES (?, ?, ?, ?, ?, ?, ?, ?)", row)
    restore_triggers(conn, sql)
    run = filled("verify")
    assert run.exit_code == 1 and "event 5" in run.stdout


def test_modifying_a_stored_original_is_named(filled, db):
    sha = filled("list", "--json").json()[0]["sha256"]
    stored = db.parent / "evidence.store" / "sha256" / sha[:2] / sha[2:4] / sha
    stored.chmod(0o600)
    stored.write_bytes(stored.read_bytes() + b"x")
    run = filled("verify")
    assert run.exit_code == 1 and f"stored original {sha} has been modified" in run.stdout
    stored.unlink()
    assert "is missing" in filled("verify").stdout


def _truncate_consistently(db: Path, keep: int) -> None:
    """What an insider would do: cut the tail of the log and the rows it produced."""
    conn = raw(db)
    sql = drop_triggers(conn)
    conn.execute("DELETE FROM events WHERE seq > ?", (keep,))
    conn.execute("DELETE FROM sightings WHERE id > ?", (keep,))
    conn.execute("DELETE FROM hashes WHERE item IN (SELECT sha256 FROM items"
                 " WHERE registered_event > ?)", (keep,))
    conn.execute("DELETE FROM items WHERE registered_event > ?", (keep,))
    restore_triggers(conn, sql)


def test_truncating_the_tail_is_caught_by_a_checkpoint(filled, db, tmp_path):
    checkpoint = tmp_path / "cp.json"
    assert filled("checkpoint", "--out", str(checkpoint)).exit_code == 0
    _truncate_consistently(db, keep=4)
    # Consistent on its own, but the dropped item's original is still in the store, and
    # verify names it: no item does any more.
    run = filled("verify", "--json")
    assert run.exit_code == 1
    problems = run.json()["problems"]
    assert problems and all("no item names it" in p for p in problems), problems
    run = filled("verify", "--checkpoint", str(checkpoint))
    assert run.exit_code == 1  # ...but not with what was seen before
    assert "log truncated" in run.stdout and "recorded 6 events" in run.stdout


def test_rewriting_the_whole_log_consistently_is_caught_by_a_checkpoint(filled, db, tmp_path):
    checkpoint = tmp_path / "cp.json"
    filled("checkpoint", "--out", str(checkpoint))
    conn = raw(db)
    sql = drop_triggers(conn)
    rows = conn.execute("SELECT payload FROM events ORDER BY seq").fetchall()
    conn.execute("DELETE FROM events")
    previous = log.genesis(conn.execute(
        "SELECT value FROM meta WHERE key = 'database_id'").fetchone()[0])
    for (payload,) in rows:
        body = json.loads(payload)
        body["recorded_by"] = "mallory"
        text = log.canonical(body)
        leaf = log.leaf_hash(text)
        chain = log.chain_hash(previous, leaf)
        conn.execute("INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?, ?)", (
            body["seq"], body["recorded_at"], "mallory", body["type"], body["item"], text,
            leaf, chain))
        previous = chain
    conn.execute("UPDATE items SET registered_by = 'mallory'")
    conn.execute("UPDATE sightings SET recorded_by = 'mallory'")
    restore_triggers(conn, sql)
    assert filled("verify").exit_code == 0
    run = filled("verify", "--checkpoint", str(checkpoint))
    assert run.exit_code == 1 and "history rewritten" in run.stdout


def test_signed_checkpoints(filled, db, tmp_path):
    key = tmp_path / "investigator.pem"
    keygen = filled("keygen", "--out", str(key))
    assert keygen.exit_code == 0 and len(keygen.stdout.strip()) == 64
    public = Path(str(key) + ".pub")
    checkpoint = tmp_path / "cp.json"
    assert filled("checkpoint", "--key", str(key), "--out", str(checkpoint)).exit_code == 0
    good = filled("verify", "--checkpoint", str(checkpoint), "--public-key", str(public), "--json")
    assert good.exit_code == 0 and good.json()["checkpoint"]["signature"] == "valid"
    unchecked = filled("verify", "--checkpoint", str(checkpoint))
    assert unchecked.exit_code == 0 and "not checked" in unchecked.stdout
    # A forged checkpoint (head changed, signature kept) fails against the real key.
    doc = json.loads(checkpoint.read_text())
    doc["events"] = 2
    doc["head"] = connect(db).execute("SELECT chain_hash FROM events WHERE seq = 2").fetchone()[0]
    forged = tmp_path / "forged.json"
    forged.write_text(json.dumps(doc))
    bad = filled("verify", "--checkpoint", str(forged), "--public-key", str(public))
    assert bad.exit_code == 1 and "signature does not verify" in bad.stdout
    other = tmp_path / "other.pem"
    filled("keygen", "--out", str(other))
    wrong = filled("verify", "--checkpoint", str(checkpoint), "--public-key", str(other) + ".pub")
    assert wrong.exit_code == 1 and "signature does not verify" in wrong.stdout
    again = filled("keygen", "--out", str(key))
    assert again.exit_code == 2 and "never overwritten" in again.stderr


def test_genesis_is_bound_to_the_database(filled, db, tmp_path):
    """A log copied wholesale into another database does not verify there."""
    other = tmp_path / "other.db"
    from typer.testing import CliRunner

    from provenance.cli import app

    CliRunner().invoke(app, ["--db", str(other), "init"])
    src, dst = raw(db), raw(other)
    for row in src.execute("SELECT * FROM events ORDER BY seq"):
        dst.execute("INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?, ?)", row)
    result = CliRunner().invoke(app, ["--db", str(other), "verify"])
    assert result.exit_code == 1 and "event 1" in result.stdout
