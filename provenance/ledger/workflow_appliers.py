"""Projections of the review-workflow events: status, sign-off, incidents, flags (issue 15)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

from provenance.ledger.event import Event

Attribution = Callable[[Event], tuple[str, str]]


def _same(a: str, b: str) -> bool:
    return " ".join(a.split()).casefold() == " ".join(b.split()).casefold()


class Appliers:
    """The appliers, given projection.attribution (an import of it here would be a cycle).

    The two workflow rules are checked again on replay, not only when recorded: a sign-off
    by whoever submitted the item, or a `completed` with no standing approval, makes the log
    unreplayable, so `prov verify` fails on a log forged around them.
    """

    def __init__(self, attribution: Attribution) -> None:
        self.attribution = attribution

    def status(self, conn: sqlite3.Connection, event: Event) -> None:
        d = event.data
        if d["status"] == "completed":
            sub = conn.execute("SELECT id FROM status_changes WHERE item = ? AND status ="
                               " 'ready-for-review' ORDER BY id DESC LIMIT 1",
                               (event.item,)).fetchone()
            last = sub and conn.execute("SELECT decision FROM item_reviews WHERE item = ? AND"
                                        " id > ? ORDER BY id DESC LIMIT 1",
                                        (event.item, sub[0])).fetchone()
            now = conn.execute("SELECT id FROM status_changes WHERE item = ? ORDER BY id DESC"
                               " LIMIT 1", (event.item,)).fetchone()
            if not last or last[0] != "approved" or now[0] != sub[0]:
                raise ValueError(f"event {event.seq}: item {event.item} completed without an"
                                 " approval of its latest ready-for-review")
        conn.execute(
            "INSERT INTO status_changes (id, item, status, assignee, note, recorded_at,"
            " recorded_by) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (event.seq, event.item, d["status"], d.get("assignee"), d.get("note"),
             *self.attribution(event)))

    def item_review(self, conn: sqlite3.Connection, event: Event) -> None:
        d = event.data
        at, by = self.attribution(event)
        sub = conn.execute("SELECT recorded_by, recorded_at FROM status_changes WHERE item = ?"
                           " AND status = 'ready-for-review' ORDER BY id DESC LIMIT 1",
                           (event.item,)).fetchone()
        if sub is None or sub[0] != d["submitted_by"] or _same(sub[0], by):
            raise ValueError(f"event {event.seq}: review of item {event.item} breaks the"
                             " four-eyes rule (no submission by another investigator)")
        conn.execute(
            "INSERT INTO item_reviews (id, item, decision, reason, submitted_by, submitted_at,"
            " recorded_at, recorded_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (event.seq, event.item, d["decision"], d["reason"], d["submitted_by"],
             d["submitted_at"], at, by))

    def incident(self, conn: sqlite3.Connection, event: Event) -> None:
        d = event.data
        at = d.get("at")
        conn.execute(
            "INSERT INTO incidents (id, name, at_text, at_precision, at_approximate, at_earliest,"
            " at_latest, latitude, longitude, radius_m, place, place_geonameid, note,"
            " recorded_at, recorded_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (event.seq, d["name"], at["text"] if at else None, at["precision"] if at else None,
             1 if at and at.get("approximate") else 0, at["earliest"] if at else None,
             at["latest"] if at else None, d.get("latitude"), d.get("longitude"),
             d.get("radius_m"), d.get("place"), d.get("place_geonameid"), d.get("note"),
             *self.attribution(event)))

    def incident_link(self, conn: sqlite3.Connection, event: Event) -> None:
        conn.execute("INSERT INTO incident_items (id, incident, item, recorded_at, recorded_by)"
                     " VALUES (?, ?, ?, ?, ?)",
                     (event.seq, event.data["incident"], event.item, *self.attribution(event)))

    def incident_relation(self, conn: sqlite3.Connection, event: Event) -> None:
        d = event.data
        conn.execute("INSERT INTO incident_relations (id, incident, other, recorded_at,"
                     " recorded_by) VALUES (?, ?, ?, ?, ?)",
                     (event.seq, d["incident"], d["other"], *self.attribution(event)))

    def flag(self, conn: sqlite3.Connection, event: Event) -> None:
        action = "unflagged" if event.type == "item.unflagged" else "flagged"
        conn.execute("INSERT INTO flag_changes (id, item, flag, action, note, recorded_at,"
                     " recorded_by) VALUES (?, ?, ?, ?, ?, ?, ?)",
                     (event.seq, event.item, event.data["flag"], action, event.data.get("note"),
                      *self.attribution(event)))
