"""Projections of the correction, naming and labelling events (issue 14).

Each applier adds a row of its own; the entries a retraction or correction concerns stay
as they were recorded, and readers strike them through. Only the current state that other
tables already carry follows: a claim's status (its latest review not retracted), an
item's kind, an actor's name, and which actor a merged one's custody and claims name.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass

from provenance.ledger.event import Event

Applier = Callable[[sqlite3.Connection, Event], None]


@dataclass(frozen=True)
class Appliers:
    """The appliers, given what they share with projection.py (passed in, so this module
    and projection.py do not import each other)."""

    attribution: Callable[[Event], tuple[str, str]]
    apply_custody: Applier
    apply_claim: Applier

    def retracted(self, conn: sqlite3.Connection, event: Event) -> None:
        d = event.data
        conn.execute(
            "INSERT INTO retractions (id, event, event_type, item, reason, recorded_at,"
            " recorded_by) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (event.seq, d["event"], d["event_type"], event.item, d["reason"],
             *self.attribution(event)))
        if d["event_type"] == "claim.reviewed":
            row = conn.execute("SELECT claim FROM claim_reviews WHERE id = ?",
                               (d["event"],)).fetchone()
            if row is not None:
                _restate_claim(conn, int(row[0]))

    def corrected(self, conn: sqlite3.Connection, event: Event) -> None:
        d = event.data
        # The corrected values are a custody event or claim of their own (id = this seq).
        if d["corrects"] == "custody":
            self.apply_custody(conn, event)
        else:
            self.apply_claim(conn, event)
        conn.execute(
            "INSERT INTO corrections (id, event, corrects, item, changed, reason, recorded_at,"
            " recorded_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (event.seq, d["event"], d["corrects"], event.item, ", ".join(d["changed"]),
             d["reason"], *self.attribution(event)))

    def withdrawn(self, conn: sqlite3.Connection, event: Event) -> None:
        conn.execute(
            "INSERT INTO withdrawals (id, item, reason, recorded_at, recorded_by)"
            " VALUES (?, ?, ?, ?, ?)",
            (event.seq, event.item, event.data["reason"], *self.attribution(event)))

    def reclassified(self, conn: sqlite3.Connection, event: Event) -> None:
        d = event.data
        conn.execute(
            "INSERT INTO reclassifications (id, item, kind, previous_kind, reason, recorded_at,"
            " recorded_by) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (event.seq, event.item, d["kind"], d["previous_kind"], d["reason"],
             *self.attribution(event)))
        conn.execute("UPDATE items SET kind = ? WHERE sha256 = ?", (d["kind"], event.item))

    def named(self, conn: sqlite3.Connection, event: Event) -> None:
        conn.execute(
            "INSERT INTO item_names (id, item, name, recorded_at, recorded_by)"
            " VALUES (?, ?, ?, ?, ?)",
            (event.seq, event.item, event.data["name"], *self.attribution(event)))

    def noted(self, conn: sqlite3.Connection, event: Event) -> None:
        conn.execute(
            "INSERT INTO item_notes (id, item, text, recorded_at, recorded_by)"
            " VALUES (?, ?, ?, ?, ?)",
            (event.seq, event.item, event.data["text"], *self.attribution(event)))

    def tagged(self, conn: sqlite3.Connection, event: Event) -> None:
        conn.execute(
            "INSERT INTO item_tags (id, item, tag, removed_by, recorded_at, recorded_by)"
            " VALUES (?, ?, ?, NULL, ?, ?)",
            (event.seq, event.item, event.data["tag"], *self.attribution(event)))

    def untagged(self, conn: sqlite3.Connection, event: Event) -> None:
        conn.execute(
            "UPDATE item_tags SET removed_by = ? WHERE item = ? AND tag = ? COLLATE NOCASE"
            " AND removed_by IS NULL AND id NOT IN (SELECT event FROM retractions)",
            (event.seq, event.item, event.data["tag"]))

    def actor_renamed(self, conn: sqlite3.Connection, event: Event) -> None:
        d = event.data
        conn.execute(
            "INSERT INTO actor_aliases (id, actor, alias, how, recorded_at, recorded_by)"
            " VALUES (?, ?, ?, 'renamed', ?, ?)",
            (event.seq, d["actor"], d["previous"], *self.attribution(event)))
        conn.execute("UPDATE actors SET name = ? WHERE id = ?", (d["name"], d["actor"]))

    def actor_merged(self, conn: sqlite3.Connection, event: Event) -> None:
        d = event.data
        gone, into = d["actor"], d["into"]
        conn.execute(
            "INSERT INTO actor_merges (id, actor, into_actor, reason, recorded_at, recorded_by)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (event.seq, gone, into, d["reason"], *self.attribution(event)))
        conn.execute(
            "INSERT INTO actor_aliases (id, actor, alias, how, recorded_at, recorded_by)"
            " VALUES (?, ?, (SELECT name FROM actors WHERE id = ?), 'merged', ?, ?)",
            (event.seq, into, gone, *self.attribution(event)))
        conn.execute("UPDATE actor_aliases SET actor = ? WHERE actor = ?", (into, gone))
        for column in ("from_actor", "to_actor", "asserted_by"):
            conn.execute(f"UPDATE custody SET {column} = ? WHERE {column} = ?", (into, gone))
        conn.execute("UPDATE claims SET claimant = ? WHERE claimant = ?", (into, gone))

    def actor_edited(self, conn: sqlite3.Connection, event: Event) -> None:
        d = event.data
        for column in ("kind", "url", "note"):
            if column in d:
                conn.execute(f"UPDATE actors SET {column} = ? WHERE id = ?",
                             (d[column], d["actor"]))


def _restate_claim(conn: sqlite3.Connection, claim: int) -> None:
    """A claim's status is its latest review not retracted (unreviewed when none is left)."""
    row = conn.execute(
        "SELECT status FROM claim_reviews WHERE claim = ? AND id NOT IN"
        " (SELECT event FROM retractions) ORDER BY id DESC LIMIT 1", (claim,)).fetchone()
    conn.execute("UPDATE claims SET status = ? WHERE id = ?",
                 (row[0] if row else "unreviewed", claim))
