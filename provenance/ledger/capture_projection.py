"""How a `capture.recorded` event (issue 16) lands in the captures and capture_files tables."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from provenance.ledger.event import Event


def _attribution(event: Event) -> tuple[str, str]:
    # Same rule as projection.attribution (kept here to avoid an import cycle).
    origin = event.data.get("imported_from")
    if isinstance(origin, dict) and origin.get("recorded_by"):
        return str(origin["recorded_at"]), str(origin["recorded_by"])
    return event.recorded_at, event.recorded_by


def apply_capture(conn: sqlite3.Connection, event: Event) -> None:
    d: dict[str, Any] = event.data
    chain = d.get("status_chain") or []
    conn.execute(
        "INSERT INTO captures (id, archive, url, final_url, status, page_sha256, captured_at,"
        " gone, changed, record_json, recorded_at, recorded_by)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            event.seq,
            d["archive"],
            d["url"],
            d.get("final_url"),
            chain[-1].get("status") if chain else None,
            d.get("page_sha256"),
            d["captured_at"],
            1 if d.get("gone_at_source") else 0,
            "; ".join(d.get("changes") or []) or None,
            json.dumps(d, sort_keys=True, ensure_ascii=False),
            *_attribution(event),
        ),
    )
    for n, f in enumerate(d.get("files") or []):
        conn.execute(
            "INSERT INTO capture_files (id, capture, item, role, url, status)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (f"{event.seq}:{n}", event.seq, f.get("sha256"), f["role"], f.get("url"),
             f.get("status") or "collected"),
        )
