"""`prov search` reads its first page in the index's own order: the index's rowids follow
registration order, so a word in most texts is not sorted whole (issue 20)."""

from __future__ import annotations

import sqlite3

from fixtures import media


def _add(prov, folder, n: int) -> str:  # type: ignore[no-untyped-def]
    photo = folder / f"pier-{n}.jpg"
    photo.write_bytes(media.jpeg_with_exif(2_400 + n, size=(64, 48)))
    return str(prov("add", str(photo), "--title", f"the pier, day {n}", "--no-ocr",
                    "--json").json()[0]["sha256"])


def test_results_follow_registration_order_from_the_index_itself(prov, db, tmp_path):
    from provenance.case import textsearch
    from provenance.ledger.db import connect

    first, second = _add(prov, tmp_path, 0), _add(prov, tmp_path, 1)
    assert prov("search", "pier", "--json").json()["count"] == 4  # indexed up to here
    # Text about the first item, added after the second was registered and indexed.
    assert prov("note", first, "seen again at the pier").exit_code == 0
    third = _add(prov, tmp_path, 2)
    assert prov("tag", second, "pier-side").exit_code == 0
    found = prov("search", "pier", "--json").json()
    assert [(r["item"], r["field"]) for r in found["results"]] == [
        (first, "title"), (first, "file name"), (first, "note"),
        (second, "title"), (second, "file name"), (second, "tag"),
        (third, "title"), (third, "file name")]
    conn = connect(db)
    rows = conn.execute("SELECT item FROM search_fts_index ORDER BY rowid").fetchall()
    assert [r[0] for r in rows] == [first] * 3 + [second] * 3 + [third] * 2
    # The query a search runs reads the index in its order: no sort of every match.
    seen: list[str] = []
    conn.set_trace_callback(seen.append)
    textsearch.search(conn, "pier")
    conn.set_trace_callback(None)
    query = next(q for q in seen if "search_fts_index f" in q)
    plan = " ".join(str(r[3]) for r in conn.execute("EXPLAIN QUERY PLAN " + query))
    assert "TEMP B-TREE" not in plan and "SCAN f VIRTUAL TABLE" in plan, plan
    conn.close()


def test_a_read_only_database_merges_its_new_rows_in_order(prov, db, tmp_path):
    from provenance.case import textsearch
    from provenance.ledger.db import open_db

    first, second = _add(prov, tmp_path, 0), _add(prov, tmp_path, 1)
    assert prov("search", "pier", "--json").json()["count"] == 4
    assert prov("note", first, "pier again").exit_code == 0
    assert prov("note", second, "pier again").exit_code == 0
    conn = open_db(db, write=False)  # the notes are indexed in memory, after the others
    try:
        found = textsearch.search(conn, "pier")
        assert [(r["item"], r["field"]) for r in found["results"]] == [
            (first, "title"), (first, "file name"), (first, "note"),
            (second, "title"), (second, "file name"), (second, "note")]
        temp = conn.execute("SELECT rowid FROM temp.search_fts_index").fetchall()
        main = {r[0] for r in conn.execute("SELECT rowid FROM main.search_fts_index")}
        assert len(temp) == 2 and not main & {r[0] for r in temp}
    finally:
        conn.close()


def test_the_migration_empties_an_index_filled_in_the_old_order(prov, db, tmp_path):
    """0024 drops the rows written before it; the next search fills the index again."""
    from provenance.ledger.db import open_db

    first = _add(prov, tmp_path, 0)
    assert prov("search", "pier", "--json").json()["count"] == 2
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("DELETE FROM _migrations WHERE name = '0024_search_in_registration_order'")
    conn.execute("INSERT INTO search_fts_index (rowid, item, field, source, row_id, text)"
                 " VALUES (1, ?, 'title', 'sightings.title', 1, 'stale pier')", (first,))
    conn.close()
    open_db(db).close()
    found = prov("search", "pier", "--json").json()
    assert found["count"] == 2 and "stale" not in str(found)
