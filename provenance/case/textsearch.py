"""`prov search`: text search over everything typed about the items, in any script.

Every text source is one line of SOURCES (a table, a column, the item it concerns): a new
source (OCR page text, say) is one more line. The index is the `search_fts_index` FTS5 table
(trigram tokenizer, migration 0012), filled incrementally: projection rows are only ever
added, so each source is indexed up to its highest row id. A database that cannot be
written (read-only media) is searched through its index plus the rows added since, indexed
in memory. Terms of one or two characters (a two-syllable Korean word) are below what
trigrams index: they are matched by scanning the indexed text instead.
"""

from __future__ import annotations

import heapq
import itertools
import re
import sqlite3
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from provenance.case import retracted
from provenance.errors import UsageProblem


@dataclass(frozen=True)
class Source:
    field: str  # what a result says it was found in
    table: str
    column: str
    item: str = "item"  # SQL for the item's SHA-256, in the table's row
    row_id: str = "id"  # SQL for the row's id (an event seq in prov's own tables)
    retractable: bool = True  # the row id is an event a retraction can name
    current: str | None = None  # SQL condition a row must still meet to be current

    @property
    def key(self) -> str:
        return f"{self.table}.{self.column}"


SOURCES: tuple[Source, ...] = (
    Source("title", "sightings", "title"),
    Source("sighting note", "sightings", "note"),
    Source("file name", "sightings", "file_name"),
    Source("name", "item_names", "name"),
    Source("note", "item_notes", "text"),
    Source("tag", "item_tags", "tag", current="removed_by IS NULL"),
    Source("custody note", "custody", "note"),
    Source("claim place", "claims", "place"),
    Source("claim note", "claims", "note"),
    Source("review reason", "claim_reviews", "reason",
           item="(SELECT k.item FROM claims k WHERE k.id = claim_reviews.claim)"),
    # Text read off pages (issue 18: OCR, PDF text layers). A later reading by the same
    # means replaces an item's rows, so the index goes by the reading's event (always new)
    # and a hit counts only while that reading's rows are still the current ones.
    Source("page text", "page_text", "text", item="item_id", row_id="event_id",
           retractable=False, current="event_id IS NOT NULL"),
)
_BY_KEY = {s.key: s for s in SOURCES}
TRIGRAM = 3


def terms_of(query: str) -> list[str]:
    """Whitespace-separated terms; "double quotes" keep a phrase together. Every other
    character (hyphens, apostrophes, FTS5 operators) is searched for as itself."""
    terms = [a or b for a, b in re.findall(r'"([^"]*)"|(\S+)', query)]
    terms = [t.strip().casefold() for t in terms if t.strip().strip('"')]
    if not terms:
        raise UsageProblem("give some text to search for")
    return terms


def _present(conn: sqlite3.Connection, schema: str, table: str) -> bool:
    return conn.execute(f"SELECT 1 FROM {schema}.sqlite_master WHERE name = ?",
                        (table,)).fetchone() is not None


def refresh(conn: sqlite3.Connection) -> str:
    """Bring the index up to date; the schema to search ("main", or "temp" holding the rows
    a read-only database's index lacks)."""
    try:
        conn.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError:
        return _refresh_temp(conn)
    try:
        _fill(conn, "main", _state(conn))
        conn.execute("COMMIT")
        return "main"
    except sqlite3.OperationalError:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        return _refresh_temp(conn)


def _state(conn: sqlite3.Connection, schema: str = "main") -> dict[str, int]:
    # Named: once temp.search_state exists, an unqualified name would read it instead (and
    # a read-only database's whole index was indexed again in memory, every hit twice).
    return {r[0]: int(r[1]) for r in conn.execute(
        f"SELECT source, max_id FROM {schema}.search_state")}


# An index row's rowid: its item's registering event, then the source's place in SOURCES,
# then a count within that item and source. Rows are only ever added, and a source's rows of
# one item come in row id order, so rowid order is registration order even for a note
# added years later to an early item: a search reads its first page by `ORDER BY rowid`.
# (Append new sources at the end of SOURCES: the place is part of the rowids written.)
_EVENT_SHIFT = 24
_SLOT_SHIFT = 20
_PER_SLOT = 1 << _SLOT_SHIFT
assert len(SOURCES) <= 1 << (_EVENT_SHIFT - _SLOT_SHIFT)


def _fill(conn: sqlite3.Connection, schema: str, done: dict[str, int]) -> None:
    for slot, s in enumerate(SOURCES):
        if not _present(conn, "main", s.table):
            continue  # a source a later migration adds, on a database without it yet
        last = done.get(s.key, 0)
        top = conn.execute(f"SELECT MAX({s.row_id}) FROM main.{s.table}").fetchone()[0]
        if top is None or top <= last:
            continue
        base = f"((i.registered_event << {_EVENT_SHIFT}) + ({slot} << {_SLOT_SHIFT}))"
        if last:
            # Rows of this item and source indexed before (in main, and in temp for a
            # read-only database): the new ones follow them.
            schemas = ["main"] + (["temp"] if schema == "temp" else [])
            before = "MAX(" + ", ".join(
                f"COALESCE((SELECT MAX(x.rowid) FROM {name}.search_fts_index x WHERE x.rowid"
                f" BETWEEN {base} AND {base} + {_PER_SLOT - 1}) - {base} + 1, 0)"
                for name in schemas) + (", 0)" if len(schemas) == 1 else ")")
        else:
            before = "0"
        # Past a million rows of one item and source the rowid is left to SQLite (the end
        # of the index): found, shown out of order.
        conn.execute(
            f"INSERT INTO {schema}.search_fts_index (rowid, item, field, source, row_id, text)"
            f" SELECT CASE WHEN n < {_PER_SLOT} THEN base + n END, item, ?, ?, row_id, text"
            f" FROM (SELECT {base} AS base, {before} + ROW_NUMBER() OVER"
            f" (PARTITION BY t.item ORDER BY t.row_id, t.r) - 1 AS n,"
            f" t.item, t.row_id, t.text FROM"
            f" (SELECT {s.item} AS item, {s.row_id} AS row_id, {s.column} AS text,"
            f" rowid AS r FROM main.{s.table} WHERE {s.row_id} > ? AND {s.column} IS NOT NULL"
            f" AND {s.column} != '') t JOIN main.items i ON i.sha256 = t.item)"
            f" ORDER BY 1",
            (s.field, s.key, last))
        conn.execute(f"INSERT OR REPLACE INTO {schema}.search_state (source, max_id)"
                     " VALUES (?, ?)", (s.key, top))


def _refresh_temp(conn: sqlite3.Connection) -> str:
    if not _present(conn, "temp", "search_fts_index"):
        conn.execute("CREATE VIRTUAL TABLE temp.search_fts_index USING fts5 (item UNINDEXED,"
                     " field UNINDEXED, source UNINDEXED, row_id UNINDEXED, text,"
                     " tokenize = 'trigram')")
        conn.execute("CREATE TABLE temp.search_state (source TEXT PRIMARY KEY,"
                     " max_id INTEGER NOT NULL)")
    done = _state(conn)
    done.update(_state(conn, "temp"))
    _fill(conn, "temp", done)
    return "temp"


# Matching rows examined past the page shown, to count them, before the count stops and
# says "N+ more": a word in most of 300,000 texts would otherwise be read, checked and
# counted whole (5-7 s) to show its first 200.
COUNT_MAX = 5_000


def _candidates(conn: sqlite3.Connection, schema: str, terms: list[str], *,
                case: str | None, kind: str | None, include_withdrawn: bool
                ) -> Iterator[dict[str, Any]]:
    """Index rows holding every term, about items the filters keep, in registration order,
    read as they are used. The filters run in SQL, and the order is the index's own, so a
    common word costs only the rows read, not a pass over every match."""
    long_terms = [t for t in terms if len(t) >= TRIGRAM]
    if long_terms:
        where, params = ["f.text MATCH ?"], ['"' + '" AND "'.join(
            t.replace('"', '""') for t in long_terms) + '"']
    else:
        where, params = ["prov_contains(f.text, ?)"], [terms[0]]
    if kind is not None:
        where.append("i.kind = ?")
        params.append(kind)
    if case is not None:
        where.append("f.item IN (SELECT item FROM sightings WHERE case_name = ? COLLATE NOCASE)")
        params.append(case)
    if not include_withdrawn:
        where.append("f.item NOT IN (SELECT item FROM withdrawals"
                     " WHERE id NOT IN (SELECT event FROM retractions))")
    # The index's rowids follow registration order (see _fill): the matches are read in
    # the index's own order, as they are used, never all sorted. CROSS JOIN keeps the index
    # the outer loop. Without the text: it is read only for the rows examined.
    query = ("SELECT f.rowid AS fts_rowid, '{s}' AS fts_schema, f.item, f.field, f.source,"
             " f.row_id, i.kind, i.registered_event"
             " FROM {s}.search_fts_index f CROSS JOIN main.items i ON i.sha256 = f.item"
             " WHERE " + " AND ".join(where) + " ORDER BY f.rowid")

    def order(r: sqlite3.Row) -> int:  # the ORDER BY's, to merge two schemas
        return int(r["fts_rowid"])

    rows: Iterator[sqlite3.Row] = iter(conn.execute(query.format(s="main"), params))
    if schema == "temp":
        rows = heapq.merge(rows, conn.execute(query.format(s="temp"), params), key=order)
    # The index folds letter case by its own rules (and a short term matched any text):
    # every term must be in the casefolded text.
    for r in rows:
        text = conn.execute(f"SELECT text FROM {r['fts_schema']}.search_fts_index"
                            " WHERE rowid = ?", (r["fts_rowid"],)).fetchone()[0] or ""
        if all(t in text.casefold() for t in terms):
            yield {**dict(r), "text": text}


def search(conn: sqlite3.Connection, query: str, *, case: str | None = None,
           kind: str | None = None, include_withdrawn: bool = False,
           limit: int = 200) -> dict[str, Any]:
    """Every current text that contains all the terms (letter case aside), with the item it
    concerns, the field and a snippet; the first `limit` of them are returned. They are
    counted up to COUNT_MAX past those (`count_complete` false: `count` is a lower bound).
    Retracted entries are found too, and say so."""
    from provenance.case.cases import check_case
    from provenance.case.items import first_name_sql
    from provenance.case.names import current_name

    terms = terms_of(query)
    if case is not None:
        case = check_case(conn, case)
    conn.create_function("prov_contains", 2,
                         lambda text, term: term in (text or "").casefold(),
                         deterministic=True)
    schema = refresh(conn)
    found = (r for r in _candidates(conn, schema, terms, case=case, kind=kind,
                                    include_withdrawn=include_withdrawn) if _current(conn, r))
    shown = list(itertools.islice(found, limit))
    counted = len(shown)
    complete = True
    if len(shown) == limit:
        more = sum(1 for _ in itertools.islice(found, COUNT_MAX + 1))
        complete = more <= COUNT_MAX
        counted += min(more, COUNT_MAX)
    struck = retracted.states(conn, [r["row_id"] for r in shown
                                     if _retractable(r["source"])])
    hits = []
    for r in shown:
        sha = r["item"]
        first = conn.execute(f"SELECT {first_name_sql()} FROM items i WHERE i.sha256 = ?",
                             (sha,)).fetchone()[0]
        hits.append({"item": sha, "name": current_name(conn, sha), "kind": r["kind"],
                     "file_name": first, "field": r["field"], "row_id": r["row_id"],
                     "snippet": snippet(r["text"], terms),
                     "struck": (retracted.struck_line(struck.get(r["row_id"], {}))
                                if _retractable(r["source"]) else None)})
    return {"query": query, "terms": terms, "count": counted, "count_complete": complete,
            "results": hits, "truncated": counted > len(hits)}


def _retractable(key: str) -> bool:
    source = _BY_KEY.get(key)
    return source is not None and source.retractable


def _current(conn: sqlite3.Connection, row: Mapping[str, Any]) -> bool:
    source = _BY_KEY.get(row["source"])
    if source is None or source.current is None:
        return True
    return conn.execute(f"SELECT 1 FROM {source.table} WHERE {source.row_id} = ? AND"
                        f" {source.current}", (row["row_id"],)).fetchone() is not None


def snippet(text: str, terms: list[str], width: int = 40) -> str:
    """The text around the first term found, the term in [brackets], … where cut."""
    flat = " ".join(text.split())
    lowered = flat.casefold()
    at, term = min(((lowered.find(t), t) for t in terms if lowered.find(t) >= 0),
                   default=(0, ""))
    if len(lowered) != len(flat):  # casefold changed lengths (ß -> ss): no marking
        return flat[: 2 * width] + ("…" if len(flat) > 2 * width else "")
    start, end = max(0, at - width), min(len(flat), at + len(term) + width)
    return (("…" if start else "") + flat[start:at] + "[" + flat[at:at + len(term)] + "]"
            + flat[at + len(term):end] + ("…" if end < len(flat) else ""))
