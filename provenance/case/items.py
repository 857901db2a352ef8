"""Items and sightings: their projections, and finding items by SHA-256 prefix."""

from __future__ import annotations

import json
import re
import sqlite3
from typing import TYPE_CHECKING, Any

from provenance.errors import Ambiguous, NotFound, UsageProblem

if TYPE_CHECKING:
    pass

MIN_PREFIX = 6
_HEX = re.compile(r"^[0-9a-f]+$")


def first_name_sql(alias: str = "i") -> str:
    """SQL for the file name an item was first sighted under (items aliased `alias`)."""
    return (f"(SELECT file_name FROM sightings s WHERE s.item = {alias}.sha256"
            " ORDER BY s.id LIMIT 1)")


def resolve(conn: sqlite3.Connection, ref: str) -> str:
    """The full SHA-256 of the item named `ref` (`prov name`), else of the one item whose
    hash starts with `ref`."""
    from provenance.case import names

    named = names.item_by_name(conn, ref)
    if named is not None:
        return named
    prefix = ref.strip().lower()
    if not _HEX.match(prefix):
        near = names.names_like(conn, ref.strip())
        hint = f" (did you mean {', '.join(near)}?)" if near else ""
        raise UsageProblem(f"{ref!r} is not an item: give its SHA-256, a prefix of 6+ hex"
                           f" digits, or a name given with `prov name`{hint}")
    if len(prefix) < MIN_PREFIX:
        raise UsageProblem(
            f"item prefix {ref!r} is too short: give at least {MIN_PREFIX} hex digits"
        )
    rows = conn.execute(
        f"SELECT i.sha256, i.kind, {first_name_sql()} AS file_name FROM items i"
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
    conn: sqlite3.Connection, *, case: str | None = None, kind: str | None = None,
    tag: str | None = None, include_withdrawn: bool = False, limit: int | None = None,
) -> list[dict[str, Any]]:
    """Items with their first sighting's name, the cases they appear in, their name and tags,
    oldest first (the first `limit` of them when given). A case is matched whatever its
    letter case, and an unknown one refused with the near ones; withdrawn items are left out
    unless asked for."""
    labelled = _has_labels(conn)
    filters = _list_filters(conn, labelled, case, kind, tag, include_withdrawn)
    if filters is None:
        return []
    where, params = filters
    labels = (", l.name, l.tags, l.withdrawn FROM items i JOIN item_labels l"
              " ON l.item = i.sha256" if labelled
              else ", NULL AS name, NULL AS tags, 0 AS withdrawn FROM items i")
    query = (
        "SELECT i.sha256, i.kind, i.mime, i.size, i.captured_at, i.registered_at,"
        f" {first_name_sql()} AS file_name,"
        " (SELECT COUNT(*) FROM sightings s WHERE s.item = i.sha256) AS sightings,"
        " (SELECT group_concat(DISTINCT case_name) FROM sightings s WHERE s.item = i.sha256)"
        " AS cases" + labels
    )
    if where:
        query += " WHERE " + " AND ".join(where)
    query += " ORDER BY i.registered_event"
    if limit is not None:
        query += " LIMIT ?"
        params.append(limit)
    out = []
    for row in conn.execute(query, params):
        d = dict(row)
        d["cases"] = sorted(d["cases"].split(",")) if d["cases"] else []
        d["tags"] = d["tags"].split(", ") if d["tags"] else []
        d["withdrawn"] = bool(d["withdrawn"])
        out.append(d)
    return out


def count_items(
    conn: sqlite3.Connection, *, case: str | None = None, kind: str | None = None,
    tag: str | None = None, include_withdrawn: bool = False,
) -> int:
    """How many items list_items would list without a limit (without building their rows)."""
    labelled = _has_labels(conn)
    filters = _list_filters(conn, labelled, case, kind, tag, include_withdrawn)
    if filters is None:
        return 0
    where, params = filters
    query = "SELECT COUNT(*) FROM items i"  # item_labels holds one row per item: no join
    if where:
        query += " WHERE " + " AND ".join(where)
    return int(conn.execute(query, params).fetchone()[0])


def _list_filters(conn: sqlite3.Connection, labelled: bool, case: str | None, kind: str | None,
                  tag: str | None, include_withdrawn: bool
                  ) -> tuple[list[str], list[Any]] | None:
    """list_items' WHERE terms and their parameters; None when nothing can match."""
    from provenance.case.cases import check_case

    where = []
    params: list[Any] = []
    if case is not None:
        case = check_case(conn, case)
        where.append("i.sha256 IN (SELECT item FROM sightings WHERE case_name = ?"
                     " COLLATE NOCASE)")
        params.append(case)
    if kind is not None:
        where.append("i.kind = ?")
        params.append(kind)
    if tag is not None:
        if not labelled:
            return None
        where.append("i.sha256 IN (SELECT item FROM current_tags WHERE tag = ? COLLATE NOCASE)")
        params.append(tag.strip())
    if labelled and not include_withdrawn:
        where.append("NOT EXISTS (SELECT 1 FROM withdrawals w WHERE w.item = i.sha256"
                     " AND w.id NOT IN (SELECT event FROM retractions))")
    return where, params


def _has_labels(conn: sqlite3.Connection) -> bool:
    # A database read (read-only) before migration 0012 has no names, tags or withdrawals.
    return conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'item_labels'").fetchone() \
        is not None
