"""Items and sightings: their projections, and finding items by SHA-256 prefix."""

from __future__ import annotations

import json
import re
import sqlite3
from typing import TYPE_CHECKING, Any

from .errors import Ambiguous, NotFound, UsageProblem
from .projection import applies, attribution

if TYPE_CHECKING:
    from .log import Event

MIN_PREFIX = 6
_HEX = re.compile(r"^[0-9a-f]+$")

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


@applies("item.registered")
def _apply_item(conn: sqlite3.Connection, event: Event) -> None:
    d = event.data
    meta = d.get("metadata") or {}
    columns = {
        "sha256": d["sha256"],
        "md5": d["md5"],
        "size": d["size"],
        "mime": d["mime"],
        "kind": d["kind"],
        "stored": 1 if d["stored"] else 0,
        "registered_at": event.recorded_at,
        "registered_by": event.recorded_by,
        "registered_event": event.seq,
        **{name: meta.get(name) for name in METADATA_COLUMNS},
        "metadata_json": json.dumps(meta, sort_keys=True, ensure_ascii=False),
        "raw_metadata_json": json.dumps(
            d.get("raw_metadata") or {}, sort_keys=True, ensure_ascii=False
        ),
    }
    names = ", ".join(columns)
    marks = ", ".join("?" for _ in columns)
    conn.execute(f"INSERT INTO items ({names}) VALUES ({marks})", tuple(columns.values()))
    for h in d.get("hashes") or []:
        conn.execute(
            "INSERT INTO hashes (item, algorithm, region, frame_seconds, page, value, quality)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                d["sha256"],
                h["algorithm"],
                h.get("region") or "full",
                h.get("frame_seconds"),
                h.get("page"),
                bytes.fromhex(h["value"]),
                h.get("quality"),
            ),
        )


@applies("sighting.recorded")
def _apply_sighting(conn: sqlite3.Connection, event: Event) -> None:
    d = event.data
    conn.execute(
        "INSERT INTO sightings (id, item, path, file_name, file_name_hex, source_url, case_name,"
        " title, note, recorded_at, recorded_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
        ),
    )


def resolve(conn: sqlite3.Connection, ref: str) -> str:
    """The full SHA-256 of the one item whose hash starts with `ref`."""
    prefix = ref.strip().lower()
    if not _HEX.match(prefix):
        raise UsageProblem(f"{ref!r} is not an item: give its SHA-256 or a prefix of 6+ hex digits")
    if len(prefix) < MIN_PREFIX:
        raise UsageProblem(
            f"item prefix {ref!r} is too short: give at least {MIN_PREFIX} hex digits"
        )
    rows = conn.execute(
        "SELECT i.sha256, i.kind, (SELECT file_name FROM sightings s WHERE s.item = i.sha256"
        " ORDER BY s.id LIMIT 1) AS file_name FROM items i"
        " WHERE i.sha256 >= ? AND i.sha256 < ? ORDER BY i.sha256 LIMIT 21",
        (prefix, prefix + "g"),
    ).fetchall()
    if not rows:
        raise NotFound(f"no item matches {ref!r}: `prov list` shows the items held")
    if len(rows) > 1:
        candidates = [f"{r['sha256']}  {r['kind']}  {r['file_name'] or ''}".rstrip() for r in rows]
        raise Ambiguous(
            f"item prefix {ref!r} is ambiguous; it matches:\n  " + "\n  ".join(candidates)
            + "\ngive more digits",
            candidates,
        )
    return str(rows[0]["sha256"])


def get_item(conn: sqlite3.Connection, sha256: str) -> dict[str, Any]:
    row = conn.execute("SELECT * FROM items WHERE sha256 = ?", (sha256,)).fetchone()
    if row is None:
        raise NotFound(f"no item {sha256}")
    item = dict(row)
    item["metadata"] = json.loads(item.pop("metadata_json"))
    item["raw_metadata"] = json.loads(item.pop("raw_metadata_json"))
    item["stored"] = bool(item["stored"])
    return item


def sightings(conn: sqlite3.Connection, sha256: str) -> list[dict[str, Any]]:
    rows = conn.execute("SELECT * FROM sightings WHERE item = ? ORDER BY id", (sha256,))
    return [dict(r) for r in rows]


def list_items(
    conn: sqlite3.Connection, *, case: str | None = None, kind: str | None = None
) -> list[dict[str, Any]]:
    """Items with their first sighting's name and the cases they appear in, oldest first."""
    where = []
    params: list[Any] = []
    if case is not None:
        where.append("i.sha256 IN (SELECT item FROM sightings WHERE case_name = ?)")
        params.append(case)
    if kind is not None:
        where.append("i.kind = ?")
        params.append(kind)
    query = (
        "SELECT i.sha256, i.kind, i.mime, i.size, i.captured_at, i.registered_at,"
        " (SELECT file_name FROM sightings s WHERE s.item = i.sha256 ORDER BY s.id LIMIT 1)"
        " AS file_name,"
        " (SELECT COUNT(*) FROM sightings s WHERE s.item = i.sha256) AS sightings,"
        " (SELECT group_concat(DISTINCT case_name) FROM sightings s WHERE s.item = i.sha256)"
        " AS cases FROM items i"
    )
    if where:
        query += " WHERE " + " AND ".join(where)
    query += " ORDER BY i.registered_event"
    out = []
    for row in conn.execute(query, params):
        d = dict(row)
        d["cases"] = sorted(d["cases"].split(",")) if d["cases"] else []
        out.append(d)
    return out


@applies("item.stored")
def _apply_stored(conn: sqlite3.Connection, event: Event) -> None:
    conn.execute("UPDATE items SET stored = 1 WHERE sha256 = ?", (event.data["sha256"],))
