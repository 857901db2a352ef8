"""The full verify compares each table in SQLite first (a table found equal is not read into
Python): edits that SQLite's own comparison could take for equal must still fail verify."""

from __future__ import annotations

import pytest

from fixtures import media
from tests.hostile.tampering import raw, verify_problems

# Each test twice: the chain checked inline, and by the worker process.
pytestmark = pytest.mark.usefixtures("verify_path")


@pytest.fixture
def filled(prov, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    for i in range(3):
        (folder / f"{i}.jpg").write_bytes(media.jpeg_with_exif(400 + i, size=(160, 120)))
    assert prov("add", str(folder), "--no-ocr", "--case", "Kherson").exit_code == 0
    assert prov("actor", "add", "Alice Example", "--kind", "person").exit_code == 0
    assert prov("verify", "--no-rehash").exit_code == 0
    return prov




def test_a_letter_case_edit_in_a_column_redeclared_case_blind_is_named(filled, db):
    conn = raw(db)
    conn.execute("PRAGMA writable_schema = ON")
    conn.execute("UPDATE sqlite_master SET sql = replace(sql, 'name         TEXT NOT NULL,',"
                 " 'name         TEXT NOT NULL COLLATE NOCASE,') WHERE name = 'actors'")
    conn.execute("PRAGMA writable_schema = OFF")
    conn.close()
    conn = raw(db)
    assert "COLLATE NOCASE," in conn.execute(
        "SELECT sql FROM sqlite_master WHERE name = 'actors'").fetchone()[0]
    conn.execute("UPDATE actors SET name = 'alice example'")
    conn.close()
    problems = verify_problems(filled)
    assert any(p.startswith("table actors: row ") and "column name is 'alice example', the"
               " log says 'Alice Example'" in p for p in problems), problems


def test_text_turned_into_the_same_bytes_as_a_blob_is_named(filled, db):
    conn = raw(db)
    conn.execute("UPDATE sightings SET case_name = CAST(case_name AS BLOB) WHERE id ="
                 " (SELECT MIN(id) FROM sightings)")
    conn.close()
    problems = verify_problems(filled)
    assert any("column case_name is b'Kherson', the log says 'Kherson'" in p
               for p in problems), problems


def test_a_hash_row_deleted_and_inserted_again_under_a_new_id_is_named(filled, db):
    conn = raw(db)
    row = conn.execute("SELECT * FROM hashes ORDER BY id LIMIT 1").fetchone()
    conn.execute("DELETE FROM hashes WHERE id = ?", (row[0],))
    conn.execute("INSERT INTO hashes VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                 (10_000, *row[1:]))
    conn.close()
    assert "table hashes: 1 row(s) not in the log, 1 row(s) missing" in verify_problems(filled)


def test_a_row_copied_into_a_table_without_its_key_is_named(filled, db):
    """A table recreated by hand without its primary key, holding one of its rows twice:
    the same rows as a set, still not the log's."""
    conn = raw(db)
    rows = conn.execute("SELECT * FROM sightings ORDER BY id").fetchall()
    assert len(rows) == 3
    conn.execute("PRAGMA writable_schema = ON")
    conn.execute("UPDATE sqlite_master SET sql = replace(sql, 'INTEGER PRIMARY KEY',"
                 " 'INTEGER') WHERE name = 'sightings'")
    conn.execute("PRAGMA writable_schema = OFF")
    conn.close()
    conn = raw(db)
    assert "PRIMARY KEY" not in conn.execute(
        "SELECT sql FROM sqlite_master WHERE name = 'sightings'").fetchone()[0]
    conn.execute("DELETE FROM sightings")
    marks = ", ".join("?" for _ in rows[0])
    conn.executemany(f"INSERT INTO sightings VALUES ({marks})", [*rows, rows[0]])
    conn.close()
    problems = verify_problems(filled)
    assert f"table sightings: row {rows[0][0]} is not in the log (inserted by hand)" \
        in problems, problems


def test_a_projection_table_dropped_is_named_not_read_from_the_replay(filled, db):
    """The replay's file is attached to the live database while they are compared: a table
    missing from the live database must not be found under the replay's name instead."""
    conn = raw(db)
    conn.execute("DROP TABLE hashes")
    conn.close()
    problems = verify_problems(filled)
    assert any(p.startswith("table hashes: unreadable") for p in problems), problems


def test_the_log_table_dropped_fails_verify_in_one_line(filled, db):
    conn = raw(db)
    conn.execute("DROP TABLE events")
    conn.close()
    run = filled("verify", "--no-rehash")
    assert run.exit_code == 1 and run.stdout == ""
    assert run.stderr.strip() == "error: database: no such table: events"


def test_a_number_turned_into_text_in_a_column_redeclared_as_text_is_named(filled, db):
    """A column redeclared with another type (TEXT for INTEGER): compared with the replay's
    INTEGER column, SQLite would turn the text back into a number and call them equal."""
    conn = raw(db)
    conn.execute("PRAGMA writable_schema = ON")
    conn.execute("UPDATE sqlite_master SET sql = replace(sql, 'size              INTEGER NOT"
                 " NULL,', 'size              TEXT NOT NULL,') WHERE name = 'items'")
    conn.execute("PRAGMA writable_schema = OFF")
    conn.close()
    conn = raw(db)
    sha, size = conn.execute("SELECT sha256, size FROM items LIMIT 1").fetchone()
    conn.execute("UPDATE items SET size = CAST(size AS TEXT) WHERE sha256 = ?", (sha,))
    assert conn.execute("SELECT typeof(size) FROM items WHERE sha256 = ?",
                        (sha,)).fetchone()[0] == "text"
    conn.close()
    problems = verify_problems(filled)
    assert f"table items: row {sha} column size is '{size}', the log says {size}" in problems, \
        problems


def test_items_renumbered_in_storage_still_verify(filled, db):
    """The comparison first pairs rows by rowid (the replay numbers them as the appliers
    did); a live table whose rows are numbered otherwise, as a rebuild or VACUUM may leave
    it, is then compared by key, and is found the same."""
    conn = raw(db)
    conn.execute("UPDATE items SET rowid = 1000 - rowid")
    assert conn.execute("SELECT MIN(rowid) FROM items").fetchone()[0] > 900
    conn.close()
    run = filled("verify", "--no-rehash")
    assert run.exit_code == 0 and "OK" in run.stdout, run.output


def test_two_items_rows_swapped_between_rowids_and_one_edited_is_named(filled, db):
    """Rows paired by rowid that differ are not taken for the same: the key comparison
    names the edit, whichever rowid the edited row stands at."""
    conn = raw(db)
    first, last = conn.execute("SELECT MIN(rowid), MAX(rowid) FROM items").fetchone()
    conn.execute("UPDATE items SET rowid = -1 WHERE rowid = ?", (first,))
    conn.execute("UPDATE items SET rowid = ? WHERE rowid = ?", (first, last))
    conn.execute("UPDATE items SET rowid = ?, make = 'Forged' WHERE rowid = -1", (last,))
    conn.close()
    problems = verify_problems(filled)
    assert len(problems) == 1 and problems[0].startswith("table items: row ") \
        and "column make is 'Forged'" in problems[0], problems
