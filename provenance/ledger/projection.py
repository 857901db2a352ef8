"""Projections: how each event type changes the browsable tables, and replaying the log.

The whole "tables are projections" contract is in this file: every event type's applier,
the table of appliers (APPLIERS), and the tables that `prov verify` rebuilds and compares
(PROJECTION_TABLES). Read it beside schema.sql.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable
from typing import Any

from provenance.ledger import analysed_projection, workflow_appliers
from provenance.ledger.capture_projection import apply_capture
from provenance.ledger.event import Event
from provenance.ledger.projection_corrections import Appliers

Applier = Callable[[sqlite3.Connection, Event], None]

# Every table rebuilt from the log, with the columns that order its rows.
PROJECTION_TABLES: dict[str, str] = {
    "items": "sha256",
    "sightings": "id",
    "hashes": "item, algorithm, region, frame_seconds, page, value",
    "near_duplicates": "id",
    "actors": "id",
    "custody": "id",
    "claims": "id",
    "claim_reviews": "id",
    "timestamps": "id",
    "captures": "id",
    "capture_files": "id",
    "status_changes": "id",
    "item_reviews": "id",
    "incidents": "id",
    "incident_items": "id",
    "incident_relations": "id",
    "flag_changes": "id",
    "retractions": "id",
    "corrections": "id",
    "withdrawals": "id",
    "reclassifications": "id",
    "item_names": "id",
    "item_notes": "id",
    "item_tags": "id",
    "actor_aliases": "id",
    "actor_merges": "id",
    "page_text": "item_id, source, page",
    "item_analyses": "item",
}

# Tables whose rows have no single-column key: compared as multisets.
_MULTISET = ("hashes", "page_text")


def attribution(event: Event) -> tuple[str, str]:
    """(recorded_at, recorded_by) as the original recorder had them.

    An event imported from another investigator's bundle keeps their attribution
    in the tables; who imported it, and when, stays in the log.
    """
    origin = event.data.get("imported_from")
    if isinstance(origin, dict) and origin.get("recorded_by"):
        return str(origin["recorded_at"]), str(origin["recorded_by"])
    return event.recorded_at, event.recorded_by


def apply(conn: sqlite3.Connection, event: Event) -> None:
    try:
        fn = APPLIERS[event.type]
    except KeyError:
        raise ValueError(f"event {event.seq}: unknown event type {event.type!r}") from None
    fn(conn, event)


def replay(events: Iterable[Event], schema_statements: list[str]) -> sqlite3.Connection:
    """Build the projections afresh in memory from the given events."""
    conn = sqlite3.connect(":memory:", isolation_level=None)
    conn.row_factory = sqlite3.Row
    for statement in schema_statements:
        conn.execute(statement)
    # Triggers on the log do not matter here: replay writes projections only.
    conn.execute("BEGIN")
    for event in events:
        apply(conn, event)
    conn.execute("COMMIT")
    return conn


def _rows(conn: sqlite3.Connection, table: str, order: str) -> list[tuple[Any, ...]]:
    columns = [r[1] for r in conn.execute(f"PRAGMA table_info({table})")]
    query = f"SELECT {', '.join(columns)} FROM {table} ORDER BY {order}"
    return [tuple(r) for r in conn.execute(query)]


def compare(actual: sqlite3.Connection, expected: sqlite3.Connection) -> list[str]:
    """Describe every projection row that differs from what the log says."""
    problems: list[str] = []
    for table, order in PROJECTION_TABLES.items():
        columns = [r[1] for r in expected.execute(f"PRAGMA table_info({table})")]
        try:
            have = _rows(actual, table, order)
        except sqlite3.DatabaseError as exc:
            problems.append(f"table {table}: unreadable ({exc})")
            continue
        want = _rows(expected, table, order)
        key = 0
        have_by_key = {row[key]: row for row in have}
        want_by_key = {row[key]: row for row in want}
        if table in _MULTISET:
            # Hash rows have no natural single key; compare as multisets.
            extra = len(set(have) - set(want))
            missing = len(set(want) - set(have))
            if extra or missing or len(have) != len(want):
                problems.append(
                    f"table {table}: {extra} row(s) not in the log, {missing} row(s) missing"
                )
            continue
        for k, row in want_by_key.items():
            if k not in have_by_key:
                problems.append(f"table {table}: row {k} is missing (the log records it)")
                continue
            other = have_by_key[k]
            for name, a, b in zip(columns, other, row, strict=True):
                if a != b:
                    problems.append(
                        f"table {table}: row {k} column {name} is {_clip(a)}, the log says"
                        f" {_clip(b)}"
                    )
        for k in have_by_key.keys() - want_by_key.keys():
            problems.append(f"table {table}: row {k} is not in the log (inserted by hand)")
    return problems


def _clip(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


# Normalised metadata that gets a column of its own in `items`.
METADATA_COLUMNS = (
    "width",
    "height",
    "captured_at",
    "captured_offset",
    "make",
    "model",
    "software",
    "orientation",
    "gps_latitude",
    "gps_longitude",
    "gps_altitude",
    "duration_seconds",
    "frame_rate",
    "codec",
    "page_count",
)


# json.dumps(value, sort_keys=True, ensure_ascii=False), without building an encoder per call
# (json.dumps does, for any argument other than its defaults): the same text.
_SORTED_JSON = json.JSONEncoder(sort_keys=True, ensure_ascii=False)


# The items row a registration writes: the statement built once, not per event (a full
# verify replays every registration); its values are given in this order below.
_ITEM_COLUMNS = ("sha256", "md5", "size", "mime", "kind", "stored", "registered_at",
                 "registered_by", "registered_event", *METADATA_COLUMNS, "metadata_json",
                 "raw_metadata_json")
_ITEM_INSERT = (f"INSERT INTO items ({', '.join(_ITEM_COLUMNS)})"
                f" VALUES ({', '.join('?' for _ in _ITEM_COLUMNS)})")


def _sorted_json_or_empty(value: Any) -> str:
    """_SORTED_JSON.encode(value or {}), with most registrations' empty value not encoded."""
    return "{}" if not value else _SORTED_JSON.encode(value)


def _apply_item(conn: sqlite3.Connection, event: Event) -> None:
    d = event.data
    meta = d.get("metadata") or {}
    sha = d["sha256"]
    conn.execute(_ITEM_INSERT, (
        sha,
        d["md5"],
        d["size"],
        d["mime"],
        d["kind"],
        1 if d["stored"] else 0,
        event.recorded_at,
        event.recorded_by,
        event.seq,
        *[meta.get(name) for name in METADATA_COLUMNS],
        _SORTED_JSON.encode(meta),
        _sorted_json_or_empty(d.get("raw_metadata")),
    ))
    # One statement for the dozen rows of a registration (most of a full verify's replay).
    conn.executemany(
        "INSERT INTO hashes (item, algorithm, region, frame_seconds, page, value, quality)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        [
            (
                sha,
                h["algorithm"],
                h.get("region") or "full",
                h.get("frame_seconds"),
                h.get("page"),
                bytes.fromhex(h["value"]),
                h.get("quality"),
            )
            for h in d.get("hashes") or []
        ],
    )
    if d.get("analysis") == "deferred":  # its perceptual analysis comes later: item.analysed
        analysed_projection.mark_pending(conn, event)


# The one statement writing sightings: a full verify's chain worker compares the rows it
# would insert with the live table instead of inserting them (ledger/rowstream.py).
SIGHTING_INSERT = (
    "INSERT INTO sightings (id, item, path, file_name, file_name_hex, source_url, case_name,"
    " title, note, recorded_at, recorded_by, seen_at, page_url, origin_json)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")


def _apply_sighting(conn: sqlite3.Connection, event: Event) -> None:
    d = event.data
    conn.execute(
        SIGHTING_INSERT,
        (
            event.seq,
            event.item,
            d.get("path"),
            d.get("file_name"),
            d.get("file_name_hex"),
            d.get("source_url"),
            d.get("case"),
            d.get("title"),
            d.get("note"),
            *attribution(event),
            # Where the copy was seen at the source (capture, WARC record): issue 16.
            d.get("seen_at"),
            d.get("page_url"),
            json.dumps(d["origin"], sort_keys=True, ensure_ascii=False)
            if d.get("origin") is not None else None,
        ),
    )


def _apply_stored(conn: sqlite3.Connection, event: Event) -> None:
    conn.execute("UPDATE items SET stored = 1 WHERE sha256 = ?", (event.data["sha256"],))


def _apply_actor(conn: sqlite3.Connection, event: Event) -> None:
    d = event.data
    conn.execute(
        "INSERT INTO actors (id, name, kind, url, note, recorded_at, recorded_by)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        (event.seq, d["name"], d["kind"], d.get("url"), d.get("note"), event.recorded_at,
         event.recorded_by),
    )


# The statement writing custody rows (custody.recorded, and a correction of one): see
# ledger/rowstream.py.
CUSTODY_INSERT = (
    "INSERT INTO custody (id, item, action, from_actor, to_actor, at_text, at_precision,"
    " at_approximate, at_earliest, at_latest, url, note, asserted_by, recorded_at,"
    " recorded_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")


def _apply_custody(conn: sqlite3.Connection, event: Event) -> None:
    d = event.data
    at = d.get("at")
    conn.execute(
        CUSTODY_INSERT,
        (
            event.seq,
            event.item,
            d["action"],
            d.get("from_actor"),
            d.get("to_actor"),
            at["text"] if at else None,
            at["precision"] if at else None,
            1 if at and at.get("approximate") else 0,
            at["earliest"] if at else None,
            at["latest"] if at else None,
            d.get("url"),
            d.get("note"),
            d.get("asserted_by"),
            *attribution(event),
        ),
    )


def _apply_claim(conn: sqlite3.Connection, event: Event) -> None:
    d = event.data
    conn.execute(
        "INSERT INTO claims (id, item, latitude, longitude, radius_m, place, place_geonameid,"
        " claimant, method, confidence, source_url, note, status, recorded_at, recorded_by)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'unreviewed', ?, ?)",
        (event.seq, event.item, d["latitude"], d["longitude"], d["radius_m"], d.get("place"),
         d.get("place_geonameid"), d.get("claimant"), d["method"], d.get("confidence"),
         d.get("source_url"), d.get("note"), *attribution(event)),
    )


def _apply_review(conn: sqlite3.Connection, event: Event) -> None:
    d = event.data
    conn.execute(
        "INSERT INTO claim_reviews (id, claim, status, reason, recorded_at, recorded_by)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (event.seq, d["claim"], d["status"], d["reason"], *attribution(event)),
    )
    conn.execute("UPDATE claims SET status = ? WHERE id = ?", (d["status"], d["claim"]))


def _apply_relation(conn: sqlite3.Connection, event: Event) -> None:
    d = event.data
    conn.execute(
        "INSERT INTO near_duplicates (id, item, other, algorithm, distance, verdict, detail_json,"
        " recorded_at, recorded_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (event.seq, event.item, d["other"], d["algorithm"], d["distance"], d["verdict"],
         json.dumps(d.get("detail") or {}, sort_keys=True), *attribution(event)),
    )


def _apply_nothing(conn: sqlite3.Connection, event: Event) -> None:
    """A stored original was restored from its genuine bytes: the log says so, the tables
    already say the item is stored."""


def _apply_credential(conn: sqlite3.Connection, event: Event) -> None:
    """A later reading of the item's C2PA credential replaces the one in its metadata (the
    registration's reading stays in the log, in the item.registered event)."""
    d = event.data
    row = conn.execute("SELECT metadata_json, raw_metadata_json FROM items WHERE sha256 = ?",
                       (event.item,)).fetchone()
    if row is None:
        raise ValueError(f"event {event.seq}: c2pa.read for an item not registered")
    meta, raw = json.loads(row[0]), json.loads(row[1])
    meta["c2pa"] = d["c2pa"]
    raw.pop("c2pa", None)
    if d.get("raw"):
        raw["c2pa"] = d["raw"]
    conn.execute(
        "UPDATE items SET metadata_json = ?, raw_metadata_json = ? WHERE sha256 = ?",
        (json.dumps(meta, sort_keys=True, ensure_ascii=False),
         json.dumps(raw, sort_keys=True, ensure_ascii=False), event.item),
    )


def _apply_timestamp(conn: sqlite3.Connection, event: Event) -> None:
    d = event.data
    conn.execute(
        "INSERT INTO timestamps (id, events, head, gen_time, tsa, tsa_name, serial, policy,"
        " response, recorded_at, recorded_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (event.seq, d["events"], d["head"], d["gen_time"], d.get("tsa"), d.get("tsa_name"),
         d["serial"], d.get("policy"), d["response"], *attribution(event)),
    )


# Issue 15's event types (review workflow, incidents, flags) live in their own module.
_workflow = workflow_appliers.Appliers(attribution)
# Issue 14's appliers: corrections, names, notes, tags, actors' renames, merges and edits.
_FIX = Appliers(attribution, _apply_custody, _apply_claim)
def _apply_page_text(conn: sqlite3.Connection, event: Event) -> None:
    """Text read off an item's pages (OCR or a PDF's text layer): one row per page. A later
    reading by the same means replaces the earlier one's rows (the log keeps both)."""
    d = event.data
    conn.execute("DELETE FROM page_text WHERE item_id = ? AND source = ?",
                 (event.item, d["source"]))
    languages = "+".join(d.get("languages") or []) or None
    for p in d["pages"]:
        conn.execute(
            "INSERT INTO page_text (item_id, page, source, text, engine, engine_version,"
            " languages, event_id, recorded_at, recorded_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (event.item, p["page"], d["source"], p["text"], d["engine"], d.get("engine_version"),
             languages, event.seq, *attribution(event)),
        )


# Every event type of the log format, and what it does to the tables. Adding an event
# type is adding a line here (and never changing what an existing one does).
APPLIERS: dict[str, Applier] = {
    "item.registered": _apply_item,
    "sighting.recorded": _apply_sighting,
    "item.stored": _apply_stored,
    "item.restored": _apply_nothing,
    "actor.created": _apply_actor,
    "custody.recorded": _apply_custody,
    "claim.recorded": _apply_claim,
    "claim.reviewed": _apply_review,
    "near_duplicate.found": _apply_relation,
    "c2pa.read": _apply_credential,
    "checkpoint.timestamped": _apply_timestamp,
    "capture.recorded": apply_capture,
    "item.status_set": _workflow.status,
    "item.reviewed": _workflow.item_review,
    "incident.created": _workflow.incident,
    "incident.linked": _workflow.incident_link,
    "incident.related": _workflow.incident_relation,
    "item.flagged": _workflow.flag,
    "item.unflagged": _workflow.flag,
    "event.retracted": _FIX.retracted,
    "event.corrected": _FIX.corrected,
    "item.withdrawn": _FIX.withdrawn,
    "item.reclassified": _FIX.reclassified,
    "item.named": _FIX.named,
    "item.noted": _FIX.noted,
    "item.tagged": _FIX.tagged,
    "item.untagged": _FIX.untagged,
    "actor.renamed": _FIX.actor_renamed,
    "actor.merged": _FIX.actor_merged,
    "actor.edited": _FIX.actor_edited,
    # A scheduled re-hash of stored originals: its rows are in fixity_checks, which is not a
    # projection (see ledger/fixity.py); the event seals them and changes no table.
    "fixity.checked": _apply_nothing,
    "ocr.recorded": _apply_page_text,
    "text_layer.read": _apply_page_text,
    # Issue 16: the perceptual analysis of an item a capture registered before analysing it.
    "item.analysed": analysed_projection.Analysed(attribution, METADATA_COLUMNS),
}
