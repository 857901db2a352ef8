"""`prov search`: text search over everything typed about the items, in any script.

Every text source is one line of SOURCES (a table, a column, the item it concerns): a new
source (OCR page text, say) is one more line. The index is the `search_fts` FTS5 table
(trigram tokenizer, migration 0012), filled incrementally: projection rows are only ever
added, so each source is indexed up to its highest row id. A database that cannot be
written (read-only media) is searched through its index plus the rows added since, indexed
in memory. Terms of one or two characters (a two-syllable Korean word) are below what
trigrams index: they are matched by scanning the indexed text instead.
"""

from __future__ import annotations

import re
import sqlite3
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


def _state(conn: sqlite3.Connection) -> dict[str, int]:
    return {r[0]: int(r[1]) for r in conn.execute("SELECT source, max_id FROM search_state")}


def _fill(conn: sqlite3.Connection, schema: str, done: dict[str, int]) -> None:
    for s in SOURCES:
        if not _present(conn, "main", s.table):
            continue  # a source a later migration adds, on a database without it yet
        last = done.get(s.key, 0)
        top = conn.execute(f"SELECT MAX({s.row_id}) FROM main.{s.table}").fetchone()[0]
        if top is None or top <= last:
            continue
        conn.execute(
            f"INSERT INTO {schema}.search_fts (item, field, source, row_id, text)"
            f" SELECT {s.item}, ?, ?, {s.row_id}, {s.column} FROM main.{s.table}"
            f" WHERE {s.row_id} > ? AND {s.column} IS NOT NULL AND {s.column} != ''",
            (s.field, s.key, last))
        conn.execute(f"INSERT OR REPLACE INTO {schema}.search_state (source, max_id)"
                     " VALUES (?, ?)", (s.key, top))


def _refresh_temp(conn: sqlite3.Connection) -> str:
    if not _present(conn, "temp", "search_fts"):
        conn.execute("CREATE VIRTUAL TABLE temp.search_fts USING fts5 (item UNINDEXED,"
                     " field UNINDEXED, source UNINDEXED, row_id UNINDEXED, text,"
                     " tokenize = 'trigram')")
        conn.execute("CREATE TABLE temp.search_state (source TEXT PRIMARY KEY,"
                     " max_id INTEGER NOT NULL)")
    done = _state(conn)
    done.update({r[0]: int(r[1]) for r in conn.execute(
        "SELECT source, max_id FROM temp.search_state")})
    _fill(conn, "temp", done)
    return "temp"


def _candidates(conn: sqlite3.Connection, schema: str, terms: list[str]) -> list[sqlite3.Row]:
    long_terms = [t for t in terms if len(t) >= TRIGRAM]
    if long_terms:
        match = " AND ".join('"' + t.replace('"', '""') + '"' for t in long_terms)
        where, params = "search_fts MATCH ?", [match]
    else:
        where, params = "prov_contains(text, ?)", [terms[0]]
    query = f"SELECT item, field, source, row_id, text FROM {{s}}.search_fts WHERE {where}"
    rows = list(conn.execute(query.format(s="main"), params))
    if schema == "temp":
        rows += list(conn.execute(query.format(s="temp"), params))
    return [r for r in rows if all(t in (r["text"] or "").casefold() for t in terms)]


def search(conn: sqlite3.Connection, query: str, *, case: str | None = None,
           kind: str | None = None, include_withdrawn: bool = False,
           limit: int = 200) -> dict[str, Any]:
    """Every current text that contains all the terms (letter case aside), with the item it
    concerns, the field and a snippet. Retracted entries are found too, and say so."""
    from provenance.case.cases import check_case
    from provenance.case.corrections import withdrawn_items
    from provenance.case.names import current_name

    terms = terms_of(query)
    if case is not None:
        case = check_case(conn, case)
    conn.create_function("prov_contains", 2,
                         lambda text, term: term in (text or "").casefold(),
                         deterministic=True)
    schema = refresh(conn)
    rows = _candidates(conn, schema, terms)
    withdrawn = set() if include_withdrawn else withdrawn_items(conn)
    items: dict[str, sqlite3.Row | None] = {}
    hits: list[dict[str, Any]] = []
    for r in rows:
        sha = r["item"]
        if sha in withdrawn or not _current(conn, r):
            continue
        if sha not in items:
            items[sha] = _item_if(conn, sha, case, kind)
        info = items[sha]
        if info is None:
            continue
        hits.append({"item": sha, "name": current_name(conn, sha), "kind": info["kind"],
                     "file_name": info["file_name"], "field": r["field"],
                     "row_id": r["row_id"], "snippet": snippet(r["text"], terms),
                     "order": info["registered_event"], "source": r["source"]})
    hits.sort(key=lambda h: (h["order"], h["field"], h["row_id"]))
    struck = retracted.states(conn, [h["row_id"] for h in hits
                                     if _BY_KEY[h["source"]].retractable])
    for h in hits:
        h.pop("order")
        source = _BY_KEY.get(h.pop("source"))
        retractable = source is not None and source.retractable
        h["struck"] = (retracted.struck_line(struck.get(h["row_id"], {})) if retractable
                       else None)
    return {"query": query, "terms": terms, "count": len(hits), "results": hits[:limit],
            "truncated": len(hits) > limit}


def _current(conn: sqlite3.Connection, row: sqlite3.Row) -> bool:
    source = _BY_KEY.get(row["source"])
    if source is None or source.current is None:
        return True
    return conn.execute(f"SELECT 1 FROM {source.table} WHERE {source.row_id} = ? AND"
                        f" {source.current}", (row["row_id"],)).fetchone() is not None


def _item_if(conn: sqlite3.Connection, sha: str, case: str | None,
             kind: str | None) -> sqlite3.Row | None:
    from provenance.case.items import first_name_sql

    row = conn.execute(f"SELECT i.kind, i.registered_event, {first_name_sql()} AS file_name"
                       " FROM items i WHERE i.sha256 = ?", (sha,)).fetchone()
    if row is None or (kind is not None and row["kind"] != kind):
        return None
    if case is not None and conn.execute(
            "SELECT 1 FROM sightings WHERE item = ? AND case_name = ? COLLATE NOCASE",
            (sha, case)).fetchone() is None:
        return None
    return row


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
