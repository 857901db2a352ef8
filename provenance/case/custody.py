"""Chain of custody: who captured, held, sent and published a copy, and when; its flags."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from provenance.case import actors, retracted
from provenance.case.when import When, capture_when, parse_when
from provenance.errors import BadInput, UsageProblem
from provenance.ledger import log

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
        when = _when(d)
        # The date as recorded with its interval and precision, for readers of the JSON.
        d["when"] = when.reading() if when else None
        d["summary"] = _summary(d)
        out.append(d)
    retracted.annotate(conn, out)
    return out


def live_and_ignored(custody: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[str]]:
    """The events the chain's flags reason on, and a line for each one they ignore (a
    retracted or superseded event: its correction, if any, is among the live ones)."""
    live = [c for c in custody if retracted.is_live(c)]
    ignored = [f"event {c['id']} ({c['struck']})" for c in custody if not retracted.is_live(c)]
    return live, ignored


def _when(d: dict[str, Any]) -> When | None:
    if not d.get("at_text"):
        return None
    return parse_when(d["at_text"], approximate=bool(d.get("at_approximate")))


def _summary(d: dict[str, Any]) -> str:
    when = _when(d)
    parts = [when.display() if when else "(undated)", d["action"]]
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
    """Custody events, sightings and the capture time as one timeline, with flags.

    Dated entries are ordered by the middle of their intervals (see When.order_key); an
    entry whose interval overlaps another's says so ("order uncertain"), since no order
    between them is known. Undated custody events follow, in the order recorded.
    """
    captured = _item_capture(conn, sha256)
    custody = events_for_item(conn, sha256)
    dated: list[tuple[When, dict[str, Any]]] = []
    undated: list[dict[str, Any]] = []
    if captured is not None:
        dated.append((captured, {
            "kind": "capture", "label": "capture time", "at": captured.text,
            "summary": f"{_capture_display(conn, sha256, captured)} captured"
                       " (per the file's own metadata)"}))
    for c in custody:
        when = _when(c)
        entry = {"kind": "custody", "id": c["id"], "label": f"event {c['id']}",
                 "at": c["at_text"], "summary": c["summary"], "event": c,
                 "struck": c["struck"]}
        if when is None:
            undated.append({**entry, "earliest": None, "when": None, "order_uncertain": True,
                            "overlaps": [], "order_note": "undated: order unknown"})
        else:
            dated.append((when, entry))
    for s in conn.execute("SELECT * FROM sightings WHERE item = ? ORDER BY id", (sha256,)):
        where = s["source_url"] or s["path"] or "-"
        entry = {"kind": "sighting", "id": s["id"], "label": f"sighting {s['id']}",
                 "at": s["recorded_at"],
                 "summary": f"{s['recorded_at']} registered a copy from {where}"
                            f"  [by {s['recorded_by']}]"}
        try:
            dated.append((parse_when(s["recorded_at"]), entry))
        except BadInput:  # prov writes UTC timestamps; anything else has no known place
            undated.append({**entry, "earliest": None, "when": None, "order_uncertain": True,
                            "overlaps": [], "order_note": "undated: order unknown"})
    dated.sort(key=lambda pair: pair[0].order_key())
    timeline = []
    for when, entry in dated:
        # A struck-through entry orders nothing: it is shown where its date puts it.
        overlaps = [] if entry.get("struck") else [
            other["label"] for w, other in dated
            if other is not entry and not other.get("struck") and w.overlaps(when)]
        entry.update({
            "earliest": when.earliest().isoformat(), "when": when.reading(),
            "order_uncertain": bool(overlaps), "overlaps": overlaps,
            "order_note": f"order uncertain: overlaps {', '.join(overlaps)}" if overlaps else None,
        })
        timeline.append(entry)
    live, ignored = live_and_ignored(custody)
    return {"timeline": timeline + undated, "flags": flags(live, captured), "ignored": ignored}


def _item_capture(conn: sqlite3.Connection, sha256: str) -> When | None:
    item = conn.execute("SELECT captured_at, captured_offset FROM items WHERE sha256 = ?",
                        (sha256,)).fetchone()
    return capture_when(item["captured_at"], item["captured_offset"]) if item else None


def _capture_display(conn: sqlite3.Connection, sha256: str, captured: When) -> str:
    """The capture time as recorded; a zone prov inferred (from GPS time) is named as such."""
    row = conn.execute("SELECT captured_at, metadata_json FROM items WHERE sha256 = ?",
                       (sha256,)).fetchone()
    recorded = capture_when(row["captured_at"])
    if recorded is None or not recorded.local_only or captured.local_only:
        return captured.display()
    source = json.loads(row["metadata_json"] or "{}").get("captured_offset_source")
    offset = captured.text[len(recorded.text):]
    return f"{recorded.text} (local time; zone {offset} {source or 'inferred by prov'})"


def _before(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """True when event a certainly happened before event b.

    Dated events: a's whole interval precedes b's. Undated ones are read in the order they
    were recorded (the investigator's own sequence); an undated event and a dated one have
    no known order.
    """
    wa, wb = _when(a), _when(b)
    if wa is not None and wb is not None:
        return wa.is_before(wb)
    if wa is None and wb is None:
        return int(a["id"]) < int(b["id"])
    return False


def flags(custody: list[dict[str, Any]], captured: When | None,
          now: datetime | None = None) -> list[dict[str, Any]]:
    """What an examiner would question in this chain, reasoning on each date's interval:
    only what holds however the overlapping dates are read is flagged."""
    now = now or datetime.now(UTC)
    out: list[dict[str, Any]] = []
    if not custody:
        return out
    ordered = sorted(custody, key=_order_key)
    # The events that could have come first: none is certainly after another.
    could_be_first = [c for c in ordered if not any(_before(o, c) for o in custody)]
    captures = [c for c in custody if c["action"] == "captured"]
    if not any(c["action"] == "captured" for c in could_be_first):
        first = could_be_first[0] if could_be_first else ordered[0]
        holder = first.get("from_name") or first.get("to_name") or "the first holder"
        if not captures:
            why = "nothing records who captured it or"
        else:
            ids = ", ".join(str(c["id"]) for c in captures)
            why = (f"the recorded capture (event {ids}) comes after another event, so nothing"
                   " records")
        out.append({"flag": "gap", "event": first["id"], "message":
                    f"gap: the first holder is unknown — {why} how {holder} came to hold it"})
    for c in custody:
        when = _when(c)
        if when is None:
            continue
        if captured is not None and when.is_before(captured):
            out.append({"flag": "before-capture", "event": c["id"], "message":
                        f"event {c['id']} ({c['action']}, {when}) is dated before the capture"
                        f" time in the file's metadata ({captured.display()})"})
        for k in captures:
            kw = _when(k)
            if k is not c and kw is not None and when.is_before(kw):
                out.append({"flag": "before-capture", "event": c["id"], "message":
                            f"event {c['id']} ({c['action']}, {when}) is dated before the"
                            f" recorded capture (event {k['id']}, {kw})"})
        if when.in_future(now):
            out.append({"flag": "future", "event": c["id"], "message":
                        f"event {c['id']} ({c['action']}) is dated in the future ({when})"})
    out.extend(_broken_handovers(custody, ordered))
    return out


def _broken_handovers(custody: list[dict[str, Any]],
                      ordered: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A handover to X whose next event, whichever it is, starts from someone else.

    The next event is unknown when dates overlap, so every event that could come
    directly after the handover is considered; the flag stands only if each of them
    starts from another actor (and some event certainly follows the handover).
    """
    out = []
    for prev in ordered:
        receiver = prev.get("to_actor") if prev["action"] in HANDOVERS else None
        if not receiver or not any(_before(prev, c) for c in custody):
            continue
        could_be_next = [
            c for c in ordered
            # A capture starts a chain; it never continues one.
            if c is not prev and c["action"] != "captured" and not _before(c, prev)
            and not any(_before(prev, m) and _before(m, c) for m in custody)
        ]
        if not could_be_next or any(c.get("from_actor") in (None, receiver)
                                    for c in could_be_next):
            continue
        nxt = could_be_next[0]
        others = "" if len(could_be_next) == 1 else (
            " (as does every event that could come next: events "
            + ", ".join(str(c["id"]) for c in could_be_next) + ")")
        out.append({"flag": "broken-handover", "event": nxt["id"], "message":
                    f"event {prev['id']} hands it to {prev['to_name']}, but the next"
                    f" event (event {nxt['id']}, {nxt['action']}) starts from"
                    f" {nxt['from_name']}{others}"})
    return out


def _order_key(c: dict[str, Any]) -> tuple[int, Any, int]:
    when = _when(c)
    # Dated events by the middle of their intervals; undated ones after, in recorded order.
    return (0, when.order_key(), int(c["id"])) if when else (1, (), int(c["id"]))


def list_for_item(conn: sqlite3.Connection, sha256: str) -> dict[str, Any]:
    """`prov custody list`: the events in recorded order, plus the flags."""
    custody = events_for_item(conn, sha256)
    live, ignored = live_and_ignored(custody)
    return {"item": sha256, "events": custody, "flags": flags(live, _item_capture(conn, sha256)),
            "ignored": ignored}
