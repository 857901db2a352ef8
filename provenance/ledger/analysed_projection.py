"""How deferred analysis lands in the tables: item.registered marks it pending, item.analysed
adds the item's perceptual hashes and fuller metadata (issue 16: secure first, analyse later)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass

from provenance.ledger.event import Event


def mark_pending(conn: sqlite3.Connection, event: Event) -> None:
    """An item registered with `"analysis": "deferred"` waits for its item.analysed."""
    conn.execute("INSERT INTO item_analyses (item, state, registered_event) VALUES (?, ?, ?)",
                 (event.item, "pending", event.seq))


@dataclass(frozen=True)
class Analysed:
    attribution: Callable[[Event], tuple[str, str]]
    metadata_columns: tuple[str, ...]

    def __call__(self, conn: sqlite3.Connection, event: Event) -> None:
        """The one analysis of a pending item. An item's fingerprints are only ever added,
        once: an item.analysed for an item not pending cannot be replayed (verify says so),
        and recording one fails inside its transaction (two `prov analyse` at once)."""
        d = event.data
        row = conn.execute("SELECT state FROM item_analyses WHERE item = ?",
                           (event.item,)).fetchone()
        if row is None or row[0] != "pending":
            raise ValueError(f"event {event.seq}: item.analysed for item {event.item},"
                             " whose analysis is not pending")
        hashes = d.get("hashes") or []
        error = d.get("error")
        conn.execute(
            "UPDATE item_analyses SET state = ?, event = ?, hashes = ?, error = ?,"
            " recorded_at = ?, recorded_by = ? WHERE item = ?",
            ("failed" if error else "analysed", event.seq, len(hashes), error,
             *self.attribution(event), event.item))
        if error:
            return  # the bytes could not be analysed: the registration's metadata stands
        meta = d.get("metadata") or {}
        sets = ", ".join(f"{c} = ?" for c in self.metadata_columns)
        conn.execute(
            f"UPDATE items SET {sets}, metadata_json = ?, raw_metadata_json = ?"
            " WHERE sha256 = ?",
            (*(meta.get(c) for c in self.metadata_columns),
             json.dumps(meta, sort_keys=True, ensure_ascii=False),
             json.dumps(d.get("raw_metadata") or {}, sort_keys=True, ensure_ascii=False),
             event.item))
        conn.executemany(
            "INSERT INTO hashes (item, algorithm, region, frame_seconds, page, value, quality)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            [(event.item, h["algorithm"], h.get("region") or "full", h.get("frame_seconds"),
              h.get("page"), bytes.fromhex(h["value"]), h.get("quality")) for h in hashes])
