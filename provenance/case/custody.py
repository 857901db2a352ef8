"""Chain of custody: who captured, held, sent and published a copy, and when; its flags."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from provenance.case import actors
from provenance.case.when import When, parse_when
from provenance.errors import BadInput, UsageProblem
from provenance.ledger import log

if TYPE_CHECKING:
    pass

ACTIONS = (
    "captured", "uploaded", "posted", "obtained", "shared", "received", "published",
    "archived", "downloaded", "transferred", "sent", "forwarded", "seized", "copied",
)
# Actions that hand a copy from one holder to another.
HANDOVERS = {"shared", "received", "transferred", "sent", "forwarded", "seized"}


@dataclass
class CustodyInput:
    action: str
    from_actor: str | None = None
    to_actor: str | None = None
    at: str | None = None
    approximate: bool = False
    url: str | None = None
    note: str | None = None
    asserted_by: str | None = None


@dataclass
class Recorded:
    id: int
    notices: list[str] = field(default_factory=list)


def check_action(action: str) -> str:
    wanted = action.strip().lower()
    if wanted not in ACTIONS:
        raise UsageProblem(f"unknown custody action {action!r}; use one of: {', '.join(ACTIONS)}")
    return wanted


def record(conn: sqlite3.Connection, sha256: str, given: CustodyInput, *, by: str) -> Recorded:
    """Record one custody event (creating named actors on first use). One transaction."""
    from provenance.ledger.db import transaction

    action = check_action(given.action)
    try:
        when = parse_when(given.at, approximate=given.approximate) if given.at else None
    except BadInput as exc:
        raise UsageProblem(f"--at {exc}") from None
    if given.from_actor is None and given.to_actor is None and action in HANDOVERS:
        raise UsageProblem(f"a {action!r} event needs --from or --to (who handed it to whom)")
    notices: list[str] = []
    with transaction(conn):
        resolved = {
            role: actors.resolve_or_create(conn, name, by=by, notices=notices).id
            for role, name in (("from_actor", given.from_actor), ("to_actor", given.to_actor),
                               ("asserted_by", given.asserted_by))
            if name
        }
        event = log.record(
            conn,
            "custody.recorded",
            {
                "action": action,
                "from_actor": resolved.get("from_actor"),
                "to_actor": resolved.get("to_actor"),
                "asserted_by": resolved.get("asserted_by"),
                "at": when.to_json() if when else None,
                "url": given.url,
                "note": given.note,
            },
            by=by,
            item=sha256,
        )
    return Recorded(event.seq, notices)


def events_for_item(conn: sqlite3.Connection, sha256: str) -> list[dict[str, Any]]:
    rows = conn.execute(
        "SELECT c.*, f.name AS from_name, t.name AS to_name, s.name AS asserted_name"
        " FROM custody c LEFT JOIN actors f ON f.id = c.from_actor"
        " LEFT JOIN actors t ON t.id = c.to_actor LEFT JOIN actors s ON s.id = c.asserted_by"
        " WHERE c.item = ? ORDER BY c.id",
        (sha256,),
    )
    out = []
    for r in rows:
        d = dict(r)
        d["at_approximate"] = bool(d["at_approximate"])
        d["summary"] = _summary(d)
        out.append(d)
    return out


def _when(d: dict[str, Any]) -> When | None:
    if not d.get("at_text"):
        return None
    return parse_when(d["at_text"], approximate=bool(d.get("at_approximate")))


def _summary(d: dict[str, Any]) -> str:
    when = _when(d)
    parts = [str(when) if when else "(undated)", d["action"]]
    if d.get("from_name"):
        verb = "from" if d["action"] in HANDOVERS or d.get("to_name") else "by"
        parts.append(f"{verb} {d['from_name']}")
    if d.get("to_name"):
        parts.append(f"to {d['to_name']}")
    if d.get("url"):
        parts.append(f"<{d['url']}>")
    text = " ".join(parts)
    who = d.get("asserted_name") or d["recorded_by"]
    text += f"  [per {who}; recorded by {d['recorded_by']}]"
    if d.get("note"):
        text += f" — {d['note']}"
    return text


def timeline_for_item(conn: sqlite3.Connection, sha256: str) -> dict[str, Any]:
    """Custody events, sightings and the capture time as one timeline, with flags."""
    item = conn.execute("SELECT captured_at FROM items WHERE sha256 = ?", (sha256,)).fetchone()
    captured = _capture_when(item["captured_at"] if item else None)
    custody = events_for_item(conn, sha256)
    entries: list[dict[str, Any]] = []
    if captured is not None:
        entries.append({"kind": "capture", "at": captured.text, "earliest":
                        captured.earliest().isoformat(),
                        "summary": f"{captured} captured (per the file's own metadata)"})
    for c in custody:
        when = _when(c)
        entries.append({"kind": "custody", "id": c["id"], "at": c["at_text"],
                        "earliest": when.earliest().isoformat() if when else None,
                        "summary": c["summary"], "event": c})
    for s in conn.execute("SELECT * FROM sightings WHERE item = ? ORDER BY id", (sha256,)):
        where = s["source_url"] or s["path"] or "-"
        entries.append({"kind": "sighting", "id": s["id"], "at": s["recorded_at"],
                        "earliest": s["recorded_at"].replace("Z", "+00:00"),
                        "summary": f"{s['recorded_at']} registered a copy from {where}"
                                   f"  [by {s['recorded_by']}]"})
    # Dated entries in time order; undated custody events keep their recorded order, last.
    dated = sorted((e for e in entries if e["earliest"]), key=lambda e: e["earliest"])
    undated = [e for e in entries if not e["earliest"]]
    return {"timeline": dated + undated, "flags": flags(custody, captured)}


def _capture_when(captured_at: str | None) -> When | None:
    if not captured_at:
        return None
    try:
        return parse_when(captured_at)
    except BadInput:
        return None


def flags(custody: list[dict[str, Any]], captured: When | None,
          now: datetime | None = None) -> list[dict[str, Any]]:
    """What an examiner would question in this chain."""
    now = now or datetime.now(UTC)
    out: list[dict[str, Any]] = []
    if not custody:
        return out
    ordered = sorted(custody, key=_order_key)
    first = ordered[0]
    if first["action"] != "captured":
        holder = first.get("from_name") or first.get("to_name") or "the first holder"
        out.append({"flag": "gap", "event": first["id"], "message":
                    f"gap: the first holder is unknown — nothing records who captured it or"
                    f" how {holder} came to hold it"})
    for c in custody:
        when = _when(c)
        if when is None:
            continue
        if captured is not None and when.is_before(captured):
            out.append({"flag": "before-capture", "event": c["id"], "message":
                        f"event {c['id']} ({c['action']}, {when}) is dated before the capture"
                        f" time in the file's metadata ({captured})"})
        if when.in_future(now):
            out.append({"flag": "future", "event": c["id"], "message":
                        f"event {c['id']} ({c['action']}) is dated in the future ({when})"})
    for prev, nxt in zip(ordered, ordered[1:], strict=False):
        receiver = prev.get("to_actor") if prev["action"] in HANDOVERS else None
        giver = nxt.get("from_actor")
        if receiver and giver and receiver != giver:
            out.append({"flag": "broken-handover", "event": nxt["id"], "message":
                        f"event {prev['id']} hands it to {prev['to_name']}, but the next"
                        f" event (event {nxt['id']}, {nxt['action']}) starts from"
                        f" {nxt['from_name']}"})
    return out


def _order_key(c: dict[str, Any]) -> tuple[str, int]:
    when = _when(c)
    # Undated events sort after dated ones, in the order they were recorded.
    return (when.earliest().isoformat() if when else "9999", int(c["id"]))


def list_for_item(conn: sqlite3.Connection, sha256: str) -> dict[str, Any]:
    """`prov custody list`: the events in recorded order, plus the flags."""
    custody = events_for_item(conn, sha256)
    item = conn.execute("SELECT captured_at FROM items WHERE sha256 = ?", (sha256,)).fetchone()
    return {"item": sha256, "events": custody,
            "flags": flags(custody, _capture_when(item["captured_at"] if item else None))}
