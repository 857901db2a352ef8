"""The full verify's chain worker compares the sightings and custody rows with the live tables
as it checks the log, and the replay skips their events (ledger/rowstream.py): whatever the
stream cannot vouch for is replayed again with the rows inserted, and named as before. Each
edit here fails verify the same way on both paths."""

from __future__ import annotations

import sqlite3

import pytest

from fixtures import media
from provenance.ledger import chainworker, hashstream, log, replaycheck, rowstream, verify
from provenance.ledger.db import open_db
from tests.hostile.tampering import forge, raw, verify_problems

# Each test twice: the chain checked inline, and by the worker process.
pytestmark = pytest.mark.usefixtures("verify_path")


@pytest.fixture
def filled(prov, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    for i in range(3):
        (folder / f"{i}.jpg").write_bytes(media.jpeg_with_exif(820 + i, size=(160, 120)))
    assert prov("add", str(folder), "--no-ocr", "--case", "Kherson").exit_code == 0
    assert prov("add", str(folder / "0.jpg"), "--case", "Mariupol",
                "--source-url", "https://example.org/post/1").exit_code == 0
    assert prov("verify", "--no-rehash").exit_code == 0
    return prov


@pytest.mark.parametrize(("edit", "expected"), [
    ("UPDATE sightings SET source_url = 'https://forged.example/' WHERE source_url IS NOT NULL",
     "column source_url is 'https://forged.example/', the log says"
     " 'https://example.org/post/1'"),
    ("UPDATE sightings SET case_name = NULL WHERE case_name = 'Mariupol'",
     "column case_name is None, the log says 'Mariupol'"),
    ("DELETE FROM sightings WHERE id = (SELECT MAX(id) FROM sightings)", "is missing"),
    ("INSERT INTO sightings (id, item, recorded_at, recorded_by) SELECT 99999, item,"
     " recorded_at, recorded_by FROM sightings LIMIT 1", "row 99999 is not in the log"),
    ("UPDATE sightings SET id = 99999 WHERE id = (SELECT MIN(id) FROM sightings)",
     "row 99999 is not in the log"),
    ("UPDATE sightings SET recorded_by = CAST(recorded_by AS BLOB)"
     " WHERE id = (SELECT MIN(id) FROM sightings)", "column recorded_by is b'"),
])
def test_a_sighting_edited_is_named(filled, db, edit, expected):
    conn = raw(db)
    conn.execute(edit)
    conn.close()
    problems = verify_problems(filled)
    assert any(p.startswith("table sightings: row ") and expected in p
               for p in problems), problems


def test_a_sighting_turned_into_text_that_is_not_utf8_still_fails(filled, db):
    conn = raw(db)
    conn.execute("UPDATE sightings SET note = CAST(X'C3' AS TEXT)"
                 " WHERE id = (SELECT MIN(id) FROM sightings)")
    conn.close()
    run = filled("verify", "--no-rehash")
    assert run.exit_code != 0
    assert "OK" not in run.stdout


def test_a_forged_sighting_without_an_item_cannot_be_replayed(filled, db):
    """The applier would insert a NULL item (NOT NULL): the stream does not take the
    live table's lack of such a row, nor anything, for the same; the inline replay says
    what it meets."""
    forge(db, "sighting.recorded", None, {"path": "/x.jpg", "file_name": "x.jpg"})
    problems = verify_problems(filled)
    assert "the log cannot be replayed: NOT NULL constraint failed: sightings.item" \
        in problems, problems


def test_a_forged_sighting_with_a_number_for_a_title_verifies_as_inline(filled, db):
    """A number given for a text column is stored as text by the replay and by the live
    table alike: the stream cannot vouch for that (a number is not the text it reads), so
    the inline replay decides, and finds the two the same, as it always did."""
    sha = raw(db).execute("SELECT sha256 FROM items LIMIT 1").fetchone()[0]
    seq = forge(db, "sighting.recorded", sha, {"path": "/y.jpg", "file_name": "y.jpg",
                                                "title": 5})
    conn = raw(db)
    conn.execute("INSERT INTO sightings (id, item, path, file_name, title, recorded_at,"
                 " recorded_by) VALUES (?, ?, '/y.jpg', 'y.jpg', 5,"
                 " '2026-12-01T00:00:00.000000Z', 'mallory')", (seq, sha))
    assert conn.execute("SELECT typeof(title) FROM sightings WHERE id = ?",
                        (seq,)).fetchone()[0] == "text"
    conn.close()
    run = filled("verify", "--no-rehash")
    assert run.exit_code == 0 and "OK" in run.stdout, run.output


def _streamed(db, tables: tuple[str, ...] = ("sightings", "custody")) -> dict[str, int]:
    """Verify's worker path on `db`, asserted to have matched every row of `tables` (and
    every hash row) by streaming, the replay having inserted none of them: the number of
    live rows of each."""
    conn = open_db(db, write=False)
    replayer = replaycheck.Replayer(verify._statements())
    try:
        worker = chainworker.ChainWorker.start(conn, rowstream.streamable(replayer.conn))
        assert worker is not None and worker.streamed == tables
        conn.execute("BEGIN")
        assert worker.same_snapshot(conn) and replayer.stream_hashes(conn)
        replayer.conn.stream.elsewhere = worker.streamed
        chain = verify._replay_beside(conn, replayer, worker)
        assert chain is not None and not chain.problems
        assert replayer.hashes_matched() is True
        assert replayer.streamed_tables() == ("hashes", *tables)
        replayed = replayer.finish()
        counts = {}
        for table in tables:
            assert replayed.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0] == 0
            counts[table] = int(conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])
        assert replayer.count == chain.events
        conn.execute("ROLLBACK")
        return counts
    finally:
        replayer.close()
        conn.close()


def test_the_worker_compares_the_sightings_and_the_replay_skips_them(filled, db):
    assert _streamed(db) == {"sightings": 4, "custody": 0}


def test_a_sighting_edited_leaves_the_workers_verdict_to_the_inline_replay(filled, db):
    conn = raw(db)
    conn.execute("UPDATE sightings SET title = 'forged' WHERE id = (SELECT MAX(id) FROM"
                 " sightings)")
    conn.close()
    conn = open_db(db, write=False)
    replayer = replaycheck.Replayer(verify._statements())
    try:
        worker = chainworker.ChainWorker.start(conn, rowstream.streamable(replayer.conn))
        assert worker is not None and "sightings" in worker.streamed
        conn.execute("BEGIN")
        assert worker.same_snapshot(conn) and replayer.stream_hashes(conn)
        replayer.conn.stream.elsewhere = worker.streamed
        assert verify._replay_beside(conn, replayer, worker) is None
        conn.execute("ROLLBACK")
    finally:
        replayer.close()
        conn.close()


def test_a_live_table_not_created_by_the_migrations_is_not_streamed(filled, db):
    """Rebuilt without its NOT NULL, say: the worker leaves the sightings to the replay,
    which inserts and compares them as before."""
    conn = raw(db)
    conn.execute("PRAGMA writable_schema = ON")
    conn.execute("UPDATE sqlite_master SET sql = replace(sql, 'recorded_by   TEXT NOT NULL',"
                 " 'recorded_by   TEXT') WHERE name = 'sightings'")
    conn.execute("PRAGMA writable_schema = OFF")
    conn.close()
    conn = open_db(db, write=False)
    replayer = replaycheck.Replayer(verify._statements())
    try:
        expected = rowstream.streamable(replayer.conn)
        assert "recorded_by   TEXT NOT NULL" in expected["sightings"]
        worker = chainworker.ChainWorker.start(conn, expected)
        assert worker is not None and worker.streamed == ("custody",)
        worker.stop()
    finally:
        replayer.close()
        conn.close()


def test_a_trigger_writing_sightings_in_the_replay_stops_the_streaming(tmp_path):
    replay = sqlite3.connect(tmp_path / "replay.db", isolation_level=None)
    replay.execute("CREATE TABLE sightings (id INTEGER PRIMARY KEY, item TEXT NOT NULL)")
    replay.execute("CREATE TABLE custody (id INTEGER PRIMARY KEY, item TEXT)")
    assert set(rowstream.streamable(replay)) == {"sightings", "custody"}
    replay.execute("CREATE TRIGGER copy AFTER INSERT ON custody BEGIN"
                   " INSERT INTO sightings (id, item) VALUES (new.id, new.item); END")
    assert set(rowstream.streamable(replay)) == set()  # names both


def test_other_statements_on_sightings_leave_the_stream_in_doubt(tmp_path):
    table = ("CREATE TABLE hashes (id INTEGER PRIMARY KEY, item TEXT, algorithm TEXT,"
             " region TEXT, frame_seconds REAL, page INTEGER, value BLOB, quality INTEGER)")
    live = sqlite3.connect(tmp_path / "live.db", isolation_level=None)
    live.execute(table)
    replay = sqlite3.connect(tmp_path / "replay.db", isolation_level=None,
                             factory=hashstream.StreamingConnection)
    replay.execute("CREATE TABLE sightings (id INTEGER PRIMARY KEY, item TEXT)")
    replay.execute("CREATE TABLE items (sha256 TEXT, sightings_seen INTEGER)")
    for sql, streamed, doubt in [
            ("SELECT COUNT(*) FROM sightings", True, True),
            ("UPDATE main.sightings SET item = 'x'", True, True),
            ("UPDATE items SET sightings_seen = 1", True, False),
            ("SELECT COUNT(*) FROM sightings", False, False)]:
        replay.stream = hashstream.HashStream(live, table)
        replay.stream.elsewhere = ("sightings",) if streamed else ()
        replay.execute(sql)
        assert replay.stream.doubtful is doubt, sql


def test_sightings_with_an_origin_a_name_in_hex_and_unicode_stream_and_verify(filled, db):
    """Sightings as captures and WARC imports record them (origin JSON, where seen, a file
    name not valid UTF-8 kept in hex, non-ASCII text): compared by the worker as written,
    and an edit of the origin is still named."""
    from provenance.ledger.db import transaction

    conn = open_db(db, write=True)
    sha = conn.execute("SELECT sha256 FROM items LIMIT 1").fetchone()[0]
    with transaction(conn):
        log.record(conn, "sighting.recorded", {
            "path": None, "file_name": "відео.mp4", "file_name_hex": "ff00",
            "source_url": "https://example.org/v", "case": "Харків", "title": "조선",
            "note": "₴ 1.0e+5", "seen_at": "2026-11-30T10:00:00Z",
            "page_url": "https://example.org/page",
            "origin": {"via": "warc", "record": "<urn:uuid:1>", "n": 1.5, "list": [1, None]},
        }, by="tester", item=sha)
    conn.close()
    assert filled("verify", "--no-rehash").exit_code == 0
    assert _streamed(db)["sightings"] == 5
    edited = raw(db)
    edited.execute("UPDATE sightings SET origin_json = replace(origin_json, '1.5', '2.5')"
                   " WHERE origin_json IS NOT NULL")
    edited.close()
    problems = verify_problems(filled)
    assert any(p.startswith("table sightings: row ") and "column origin_json" in p
               for p in problems), problems


@pytest.fixture
def held(filled):
    """The filled archive with custody: two actors, three custody events (one dated
    approximately, one on a third party's account)."""
    sha = filled("list", "--json").json()[0]["sha256"]
    for name in ("Center for Strategic Communication", "CNN"):
        assert filled("actor", "add", name, "--kind", "organisation").exit_code == 0
    for args in (["--action", "shared", "--from", "Center for Strategic Communication",
                  "--to", "CNN", "--at", "~2024-10-17", "--url", "https://t.me/x/1"],
                 ["--action", "published", "--from", "CNN", "--at", "2024-10-18T09:30+09:00"],
                 ["--action", "received", "--to", "CNN", "--according-to",
                  "Center for Strategic Communication", "--note", "по словам джерела"]):
        run = filled("custody", "add", sha, *args)
        assert run.exit_code == 0, run.output
    return filled


def test_custody_is_streamed_by_the_worker(held, db):
    assert _streamed(db) == {"sightings": 4, "custody": 3}


@pytest.mark.parametrize(("edit", "expected"), [
    ("UPDATE custody SET action = 'seized' WHERE action = 'shared'",
     "column action is 'seized', the log says 'shared'"),
    ("UPDATE custody SET at_approximate = 0 WHERE at_approximate = 1",
     "column at_approximate is 0, the log says 1"),
    ("UPDATE custody SET to_actor = NULL WHERE action = 'received'",
     "column to_actor is None, the log says"),
    ("UPDATE custody SET to_actor = CAST(to_actor AS TEXT) || 'x' WHERE action = 'received'",
     "column to_actor is '"),
    ("DELETE FROM custody WHERE action = 'published'", "is missing"),
    ("INSERT INTO custody (id, item, action, recorded_at, recorded_by) SELECT 99999, item,"
     " 'seized', recorded_at, recorded_by FROM custody LIMIT 1", "row 99999 is not in the log"),
])
def test_a_custody_row_edited_is_named(held, db, edit, expected):
    conn = raw(db)
    conn.execute(edit)
    conn.close()
    problems = verify_problems(held)
    assert any(p.startswith("table custody: row ") and expected in p
               for p in problems), problems


def test_after_an_actor_merge_custody_is_left_to_the_replay_and_still_checked(held, db):
    """A merge rewrites custody's actors: the worker does not stream custody for such a log
    (the replay inserts and updates it, as before), and an edit is still named."""
    assert held("actor", "add", "CNN International", "--kind", "organisation").exit_code == 0
    assert held("actor", "merge", "CNN", "CNN International",
                "--reason", "the same newsroom").exit_code == 0
    assert held("verify", "--no-rehash").exit_code == 0
    assert _streamed(db, ("sightings",)) == {"sightings": 4}
    conn = raw(db)
    conn.execute("UPDATE custody SET url = 'https://forged.example/' WHERE url IS NOT NULL")
    conn.close()
    problems = verify_problems(held)
    assert any(p.startswith("table custody: row ") and "column url" in p
               for p in problems), problems


def test_after_a_custody_correction_custody_is_left_to_the_replay(held, db):
    seq = raw(db).execute("SELECT MIN(id) FROM custody").fetchone()[0]
    run = held("custody", "correct", str(seq), "--reason", "the date was wrong",
               "--at", "2024-10-16")
    assert run.exit_code == 0, run.output
    assert held("verify", "--no-rehash").exit_code == 0
    assert _streamed(db, ("sightings",)) == {"sightings": 4}


def test_a_correction_of_a_claim_does_not_stop_custody_streaming(held, db):
    sha = held("list", "--json").json()[0]["sha256"]
    run = held("geo", "claim", sha, "--coords", "50.45, 30.52", "--method", "geolocated")
    assert run.exit_code == 0, run.output
    claim = raw(db).execute("SELECT MAX(id) FROM claims").fetchone()[0]
    run = held("geo", "correct", str(claim), "--reason", "wrong street",
               "--coords", "50.46, 30.52")
    assert run.exit_code == 0, run.output
    assert held("verify", "--no-rehash").exit_code == 0
    assert _streamed(db) == {"sightings": 4, "custody": 3}


def test_a_statement_on_custody_in_the_replay_leaves_the_stream_in_doubt(tmp_path):
    table = ("CREATE TABLE hashes (id INTEGER PRIMARY KEY, item TEXT, algorithm TEXT,"
             " region TEXT, frame_seconds REAL, page INTEGER, value BLOB, quality INTEGER)")
    live = sqlite3.connect(tmp_path / "live.db", isolation_level=None)
    live.execute(table)
    replay = sqlite3.connect(tmp_path / "replay.db", isolation_level=None,
                             factory=hashstream.StreamingConnection)
    replay.execute("CREATE TABLE custody (id INTEGER PRIMARY KEY, from_actor INTEGER)")
    for elsewhere, doubt in [(("sightings", "custody"), True), (("sightings",), False)]:
        replay.stream = hashstream.HashStream(live, table)
        replay.stream.elsewhere = elsewhere
        replay.execute("UPDATE custody SET from_actor = 2 WHERE from_actor = 1")
        assert replay.stream.doubtful is doubt, elsewhere
