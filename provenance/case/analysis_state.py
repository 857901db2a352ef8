"""Which items wait for their deferred perceptual analysis, and what became of it (issue 16)."""

from __future__ import annotations

import sqlite3
from typing import Any


def state(conn: sqlite3.Connection, sha256: str) -> dict[str, Any] | None:
    """None for an item analysed when it was registered (every `prov add`); else its row:
    state pending | analysed | failed, the item.analysed event, who recorded it, the error."""
    row = conn.execute(
        "SELECT state, registered_event, event, hashes, error, recorded_at, recorded_by"
        " FROM item_analyses WHERE item = ?", (sha256,)).fetchone()
    return dict(row) if row is not None else None


def pending(conn: sqlite3.Connection) -> list[str]:
    """Every item whose analysis is pending, in registration order."""
    return [str(r[0]) for r in conn.execute(
        "SELECT item FROM item_analyses WHERE state = 'pending' ORDER BY registered_event")]


def is_pending(conn: sqlite3.Connection, sha256: str) -> bool:
    st = state(conn, sha256)
    return st is not None and st["state"] == "pending"


def line(doc: dict[str, Any]) -> str | None:
    """What `prov show` says of an item's deferred analysis (None: analysed at registration)."""
    a = doc.get("analysis")
    if not a:
        return None
    if a["state"] == "pending":
        return ("analysis pending: registered before its perceptual analysis (a capture"
                " secures first); no re-upload check yet; `prov analyse` runs it")
    when = f"{a['recorded_at']} by {a['recorded_by']} (event {a['event']})"
    if a["state"] == "failed":
        return f"analysis failed {when}: {a['error']}"
    return f"analysed after capture {when}: {a['hashes']} perceptual hash(es)"
