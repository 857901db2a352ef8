"""Which recorded entries a later event retracted or superseded, and by whom, when, why."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from typing import Any


def withdrawn_items(conn: sqlite3.Connection) -> set[str]:
    """Every item withdrawn by a withdrawal no retraction took back. Kept here, with no
    import of the ledger, for `prov match`, which reads it on every query."""
    return {str(r[0]) for r in conn.execute(
        "SELECT item FROM withdrawals WHERE id NOT IN (SELECT event FROM retractions)")}


def states(conn: sqlite3.Connection, ids: Iterable[int]) -> dict[int, dict[str, Any]]:
    """For each entry id (the seq of the event that recorded it) that a retraction or a
    correction concerns: {"retracted": {...} | None, "superseded_by": seq | None,
    "superseded": {...} | None}. Entries nothing concerns are left out."""
    wanted = sorted({int(i) for i in ids})
    out: dict[int, dict[str, Any]] = {}
    if not wanted or not _has_tables(conn):
        return out
    for chunk in (wanted[i:i + 500] for i in range(0, len(wanted), 500)):
        marks = ", ".join("?" for _ in chunk)
        for r in conn.execute(
                f"SELECT * FROM retractions WHERE event IN ({marks}) ORDER BY id", chunk):
            entry = out.setdefault(r["event"], _blank())
            entry["retracted"] = {"event": r["id"], "by": r["recorded_by"],
                                  "at": r["recorded_at"], "reason": r["reason"]}
        for r in conn.execute(
                f"SELECT * FROM corrections WHERE event IN ({marks}) AND id NOT IN"
                f" (SELECT event FROM retractions) ORDER BY id", chunk):
            entry = out.setdefault(r["event"], _blank())
            entry["superseded_by"] = r["id"]
            entry["superseded"] = {"event": r["id"], "by": r["recorded_by"],
                                   "at": r["recorded_at"], "reason": r["reason"],
                                   "changed": r["changed"].split(", ") if r["changed"] else []}
    return out


def _blank() -> dict[str, Any]:
    return {"retracted": None, "superseded_by": None, "superseded": None}


def _has_tables(conn: sqlite3.Connection) -> bool:
    # A database opened read-only before it was migrated to 0012 has none of this yet.
    return conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'retractions'").fetchone() \
        is not None


def annotate(conn: sqlite3.Connection, rows: list[dict[str, Any]], key: str = "id") -> None:
    """Add "retracted", "superseded_by" and "struck" (one line saying who, when and why, or
    None) to each row, in place."""
    found = states(conn, [r[key] for r in rows])
    for r in rows:
        s = found.get(int(r[key]), _blank())
        r["retracted"] = s["retracted"]
        r["superseded_by"] = s["superseded_by"]
        if s["superseded"] is not None:
            r["superseded"] = s["superseded"]
        r["struck"] = struck_line(s)


def struck_line(s: dict[str, Any]) -> str | None:
    """"retracted by ana at …: reason" / "superseded by correction 31 (ana at …): reason"."""
    if s.get("retracted"):
        r = s["retracted"]
        return f"retracted by {r['by']} at {r['at']} (event {r['event']}): {r['reason']}"
    if s.get("superseded"):
        c = s["superseded"]
        changed = f", {', '.join(c['changed'])} changed" if c.get("changed") else ""
        return (f"superseded by correction {c['event']} ({c['by']} at {c['at']}{changed}):"
                f" {c['reason']}")
    return None


def is_live(row: dict[str, Any]) -> bool:
    """Neither retracted nor superseded."""
    return not row.get("retracted") and not row.get("superseded_by")
