"""The full verify compares hash rows with the live table as the replay produces them, without
inserting them (ledger/hashstream.py): whatever the stream cannot vouch for is replayed again
with the rows inserted, and named as before."""

from __future__ import annotations

import sqlite3

import pytest

from fixtures import media
from provenance.ledger import hashstream, log
from provenance.ledger.event import Event
from tests.hostile.tampering import raw, verify_problems

# Each test twice: the chain checked inline, and by the worker process.
pytestmark = pytest.mark.usefixtures("verify_path")


@pytest.fixture
def filled(prov, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    for i in range(3):
        (folder / f"{i}.jpg").write_bytes(media.jpeg_with_exif(700 + i, size=(160, 120)))
    assert prov("add", str(folder), "--no-ocr", "--case", "Kherson").exit_code == 0
    assert prov("verify", "--no-rehash").exit_code == 0
    return prov




def test_a_hash_value_edited_in_place_is_named(filled, db):
    conn = raw(db)
    conn.execute("UPDATE hashes SET value = zeroblob(32) WHERE id = 5")
    conn.close()
    assert verify_problems(filled) == ["table hashes: 1 row(s) not in the log, 1 row(s) missing"]


@pytest.mark.parametrize("edit", [
    "DELETE FROM hashes WHERE id = (SELECT MAX(id) FROM hashes)",
    "INSERT INTO hashes (item, algorithm, region, value) SELECT item, 'pdq', 'extra',"
    " zeroblob(32) FROM hashes LIMIT 1",
    "UPDATE hashes SET region = CAST(region AS BLOB) WHERE id = 3",
])
def test_hash_rows_removed_added_or_retyped_fail_verify(filled, db, edit):
    conn = raw(db)
    conn.execute(edit)
    conn.close()
    problems = verify_problems(filled)
    assert any(p.startswith("table hashes: ") for p in problems), problems


def test_a_hash_value_turned_into_text_that_is_not_utf8_still_fails(filled, db):
    """The stream cannot read the row (nor can the comparison after it: the verify ends in
    an error line, as it did before streaming); what matters here is that it is no "OK"."""
    conn = raw(db)
    conn.execute("UPDATE hashes SET value = CAST(value AS TEXT) WHERE id = 2")
    conn.close()
    run = filled("verify", "--no-rehash")
    assert run.exit_code != 0
    assert "OK" not in run.stdout


def test_a_null_the_schema_would_refuse_is_not_matched_by_a_table_rebuilt_to_hold_it(
        filled, db):
    """A forged registration whose hash has no algorithm cannot be replayed (NOT NULL); an
    insider who rebuilt the live table without the constraint and put the row in must not
    have the stream take the two NULLs for the same row."""
    conn = raw(db)
    conn.row_factory = sqlite3.Row
    sha = "f" * 64
    data = {"sha256": sha, "md5": "0" * 32, "size": 1, "mime": "image/jpeg", "kind": "image",
            "stored": False, "metadata": {}, "raw_metadata": {},
            "hashes": [{"algorithm": None, "region": "full", "value": "ab" * 8}]}
    seq, previous = log.head(conn)
    event = Event(seq + 1, "2026-12-01T00:00:00.000000Z", "mallory", "item.registered", sha,
                  data)
    payload = log.canonical(event.envelope())
    leaf = log.leaf_hash(payload)
    conn.execute("BEGIN")
    conn.execute("INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                 (event.seq, event.recorded_at, "mallory", "item.registered", sha, payload,
                  leaf, log.chain_hash(previous, leaf)))
    conn.execute("PRAGMA writable_schema = ON")
    conn.execute("UPDATE sqlite_master SET sql = replace(sql, 'algorithm     TEXT NOT NULL',"
                 " 'algorithm     TEXT') WHERE name = 'hashes'")
    conn.execute("PRAGMA writable_schema = OFF")
    conn.execute("COMMIT")
    conn.close()
    conn = raw(db)
    conn.execute("INSERT INTO hashes (item, algorithm, region, value) VALUES (?, NULL, 'full',"
                 " ?)", (sha, bytes.fromhex("ab" * 8)))
    conn.close()
    problems = verify_problems(filled)
    assert "the log cannot be replayed: NOT NULL constraint failed: hashes.algorithm" \
        in problems, problems


def test_other_statements_on_the_hash_table_leave_the_stream_in_doubt(tmp_path):
    table = ("CREATE TABLE hashes (id INTEGER PRIMARY KEY, item TEXT, algorithm TEXT,"
             " region TEXT, frame_seconds REAL, page INTEGER, value BLOB, quality INTEGER)")
    live = sqlite3.connect(tmp_path / "live.db", isolation_level=None)
    live.execute(table)
    replay = sqlite3.connect(tmp_path / "replay.db", isolation_level=None,
                             factory=hashstream.StreamingConnection)
    replay.execute("CREATE TABLE item_analyses (item TEXT, hashes INTEGER)")
    replay.execute(table)
    for sql, doubt in [("UPDATE item_analyses SET hashes = 3", False),
                       ("SELECT hashes FROM item_analyses", False),
                       ('SELECT COUNT(*) FROM "hashes"', True),
                       ("DELETE FROM main.hashes WHERE item = 'x'", True),
                       ("UPDATE hashes SET item = 'y'", True)]:
        replay.stream = hashstream.HashStream(live, table)
        replay.execute(sql)
        assert replay.stream.doubtful is doubt, sql
    replay.stream = hashstream.HashStream(live, table)
    replay.executemany(hashstream.HASH_INSERT.replace("hashes", "hashes "), [])
    assert replay.stream.doubtful  # the insert, worded otherwise: inserted, and in doubt


def test_a_hash_table_rebuilt_with_an_id_repeated_inside_a_registration_is_named(filled, db):
    """The stream pairs the k-th live row with the replay's k-th by position: that is the
    replay's id only while ids are the table's primary key, so the live table must be the
    one the migrations create. Rebuilt with a plain id column, one id repeated in the middle
    of a registration's rows (the first and last of the batch still in place) is named."""
    conn = raw(db)
    sql = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'hashes'").fetchone()[0]
    assert "id            INTEGER PRIMARY KEY" in sql
    conn.execute("BEGIN")
    conn.execute(sql.replace("CREATE TABLE hashes", "CREATE TABLE rebuilt").replace(
        "id            INTEGER PRIMARY KEY", "id            INTEGER"))
    conn.execute("INSERT INTO rebuilt SELECT * FROM hashes")
    conn.execute("UPDATE rebuilt SET id = 4 WHERE id = 5")  # rows 1-12: one registration
    conn.execute("DROP TABLE hashes")
    conn.execute("ALTER TABLE rebuilt RENAME TO hashes")
    conn.execute("COMMIT")
    conn.close()
    problems = verify_problems(filled)
    assert any(p.startswith("table hashes: ") for p in problems), problems


def test_hash_rows_renumbered_in_order_are_named(filled, db):
    """Every row in its place and order, every id moved: the rows the stream pairs by
    position are equal, and only the ids' ends (1 and N) show the replay numbers them
    otherwise."""
    conn = raw(db)
    conn.execute("UPDATE hashes SET id = id + 1000")
    conn.close()
    problems = verify_problems(filled)
    assert any(p.startswith("table hashes: ") for p in problems), problems
