"""Retracting and correcting what was recorded, and withdrawing items: each one new event.

Nothing recorded is edited or deleted. A retraction names the event it withdraws and why;
a correction records a custody event or claim again with corrected values and names the
one it supersedes; both stay in every report, struck through, with who, when and why.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from typing import Any

from provenance.case import actors, retracted
from provenance.case import items as registry
from provenance.errors import Ambiguous, BadInput, NotFound, UsageProblem
from provenance.ledger import log

# What `prov retract EVENT` withdraws; an item itself is withdrawn (`prov retract ITEM`).
RETRACTABLE = {
    "custody.recorded": "custody event",
    "claim.recorded": "claim",
    "claim.reviewed": "review",
    "sighting.recorded": "sighting",
    "item.tagged": "tag",
    "item.noted": "note",
    "item.named": "name",
    "event.corrected": "correction",
    "item.withdrawn": "withdrawal",
}


@dataclass
class Done:
    seq: int
    what: str
    notices: list[str] = field(default_factory=list)


def need_reason(reason: str | None) -> str:
    text = (reason or "").strip()
    if not text:
        raise UsageProblem("--reason cannot be empty: say why (it is kept with the record)")
    return text


def target_of(conn: sqlite3.Connection, ref: str) -> tuple[str, int | str]:
    """("event", seq) or ("item", sha256) for what `prov retract` was given."""
    text = ref.strip()
    if text.isdigit():
        seq = int(text)
        is_event = conn.execute("SELECT 1 FROM events WHERE seq = ?", (seq,)).fetchone()
        sha = None
        if len(text) >= registry.MIN_PREFIX:
            try:
                sha = registry.resolve(conn, text)
            except NotFound:
                sha = None
        if is_event and sha:
            raise Ambiguous(f"{text} is both event {seq} and a prefix of item {sha[:12]}: give"
                            " more digits of the item, or its name", [str(seq), sha])
        if sha:
            return "item", sha
        if not is_event:
            raise NotFound(f"no event {seq}: `prov show ITEM` and `prov log ITEM` list an"
                           " item's events with their numbers")
        return "event", seq
    return "item", registry.resolve(conn, text)


def retract_event(conn: sqlite3.Connection, seq: int, reason: str, *, by: str) -> Done:
    from provenance.ledger.db import transaction

    why = need_reason(reason)
    row = conn.execute("SELECT type, item FROM events WHERE seq = ?", (seq,)).fetchone()
    if row is None:
        raise NotFound(f"no event {seq}: `prov log ITEM` lists an item's events")
    kind = row["type"]
    if kind == "item.registered":
        raise UsageProblem(f"event {seq} registers an item, which cannot be retracted: withdraw"
                           f" the item instead (`prov retract {str(row['item'])[:12]} --reason"
                           " ...`)")
    if kind not in RETRACTABLE:
        raise UsageProblem(f"event {seq} is a {kind} event, which cannot be retracted; these"
                           f" can: {', '.join(sorted(set(RETRACTABLE.values())))}")
    state = retracted.states(conn, [seq]).get(seq, {})
    if state.get("retracted"):
        r = state["retracted"]
        raise UsageProblem(f"event {seq} was already retracted by {r['by']} at {r['at']}"
                           f" (event {r['event']}); nothing to do")
    if state.get("superseded_by"):
        raise UsageProblem(f"event {seq} was superseded by correction {state['superseded_by']}:"
                           f" retract that one (`prov retract {state['superseded_by']}`)")
    if kind == "item.tagged":
        removed = conn.execute("SELECT removed_by FROM item_tags WHERE id = ?", (seq,)).fetchone()
        if removed is not None and removed[0] is not None:
            raise UsageProblem(f"the tag of event {seq} was already removed (event"
                               f" {removed[0]}); nothing to retract")
    with transaction(conn):
        event = log.record(conn, "event.retracted",
                           {"event": seq, "event_type": kind, "reason": why},
                           by=by, item=row["item"])
    return Done(event.seq, f"{RETRACTABLE[kind]} (event {seq})")


def withdraw_item(conn: sqlite3.Connection, sha256: str, reason: str, *, by: str) -> Done:
    from provenance.ledger.db import transaction

    why = need_reason(reason)
    current = withdrawal(conn, sha256)
    if current is not None:
        raise UsageProblem(f"item {sha256[:12]} was already withdrawn by {current['by']} at"
                           f" {current['at']} (event {current['event']})")
    with transaction(conn):
        event = log.record(conn, "item.withdrawn", {"reason": why}, by=by, item=sha256)
    return Done(event.seq, f"item {sha256[:12]} withdrawn")


def withdrawal(conn: sqlite3.Connection, sha256: str) -> dict[str, Any] | None:
    """The item's standing withdrawal (who, when, why), or None."""
    row = conn.execute(
        "SELECT * FROM withdrawals WHERE item = ? AND id NOT IN (SELECT event FROM retractions)"
        " ORDER BY id DESC LIMIT 1", (sha256,)).fetchone()
    if row is None:
        return None
    return {"event": row["id"], "by": row["recorded_by"], "at": row["recorded_at"],
            "reason": row["reason"]}


def _live_entry(conn: sqlite3.Connection, table: str, what: str, seq: int) -> sqlite3.Row:
    row = conn.execute(f"SELECT * FROM {table} WHERE id = ?", (seq,)).fetchone()
    if row is None:
        raise NotFound(f"no {what} {seq}: `prov show ITEM` lists an item's {what}s with their"
                       " numbers")
    state = retracted.states(conn, [seq]).get(seq, {})
    if state.get("retracted"):
        raise UsageProblem(f"{what} {seq} was retracted; a retracted entry cannot be corrected")
    if state.get("superseded_by"):
        raise UsageProblem(f"{what} {seq} was already corrected: correct the current values,"
                           f" {what} {state['superseded_by']}")
    return row


def correct_custody(conn: sqlite3.Connection, seq: int, changes: dict[str, Any], reason: str,
                    *, by: str) -> Done:
    """Record custody event `seq` again with `changes` (action, from_actor, to_actor, at,
    approximate, url, note, asserted_by: names and text as typed)."""
    from provenance.case.custody import HANDOVERS, check_action
    from provenance.case.when import parse_when
    from provenance.ledger.db import transaction

    why = need_reason(reason)
    old = _live_entry(conn, "custody", "custody event", seq)
    payload = json.loads(conn.execute("SELECT payload FROM events WHERE seq = ?",
                                      (seq,)).fetchone()[0])["data"]
    values: dict[str, Any] = {
        "action": old["action"], "from_actor": old["from_actor"], "to_actor": old["to_actor"],
        "asserted_by": old["asserted_by"], "at": payload.get("at"), "url": old["url"],
        "note": old["note"],
    }
    new = dict(values)
    if changes.get("action") is not None:
        new["action"] = check_action(changes["action"])
    if changes.get("at") is not None or changes.get("approximate"):
        text = changes.get("at") or (old["at_text"] or "")
        if not text:
            raise UsageProblem("--approximate needs a date: give --at")
        try:
            new["at"] = parse_when(text, approximate=bool(changes.get("approximate"))).to_json()
        except BadInput as exc:
            raise UsageProblem(f"--at {exc}") from None
    for key in ("url", "note"):
        if changes.get(key) is not None:
            new[key] = changes[key] or None
    notices: list[str] = []
    with transaction(conn):
        for key in ("from_actor", "to_actor", "asserted_by"):
            name = changes.get(key)
            if name is not None:
                new[key] = (actors.resolve_or_create(conn, name, by=by, notices=notices).id
                            if name.strip() else None)
        changed = [k for k in values if new[k] != values[k]]
        if not changed:
            raise UsageProblem(f"nothing to correct: the values given are custody event {seq}'s"
                               " own (give --at, --from, --to, --action, --url or --note)")
        if new["action"] in HANDOVERS and new["from_actor"] is None and new["to_actor"] is None:
            raise UsageProblem(f"a {new['action']!r} event needs --from or --to")
        event = log.record(conn, "event.corrected",
                           {**new, "event": seq, "corrects": "custody", "changed": changed,
                            "reason": why}, by=by, item=old["item"])
    return Done(event.seq, f"custody event {seq} corrected ({', '.join(changed)})", notices)


def correct_claim(conn: sqlite3.Connection, seq: int, changes: dict[str, Any], reason: str,
                  *, by: str) -> Done:
    """Record claim `seq` again with `changes` (coords, place, geonameid, country, online,
    radius_m, method, confidence, source_url, note, claimant); what is not given keeps the
    claim's own value. Its reviews stay with the claim corrected: the corrected claim
    starts unreviewed."""
    from provenance.case import claims
    from provenance.geo.coords import parse_coords
    from provenance.ledger.db import transaction

    why = need_reason(reason)
    old = _live_entry(conn, "claims", "claim", seq)
    keys = ("latitude", "longitude", "radius_m", "place", "place_geonameid", "claimant",
            "method", "confidence", "source_url", "note")
    values = {k: old[k] for k in keys}
    new = dict(values)
    if changes.get("coords") is not None:
        try:
            lat, lon = parse_coords(changes["coords"])
        except BadInput as exc:
            raise UsageProblem(f"--coords {exc}") from None
        new.update(latitude=round(lat, 7), longitude=round(lon, 7), place_geonameid=None)
        if changes.get("place") is not None:
            new["place"] = changes["place"]
    elif changes.get("place") is not None:
        place = claims.resolve_place(claims.ClaimInput(
            place=changes["place"], geonameid=changes.get("geonameid"),
            country=changes.get("country"), online=bool(changes.get("online"))),
            investigator=by)
        new.update(latitude=round(place.latitude, 7), longitude=round(place.longitude, 7),
                   place=changes["place"], place_geonameid=place.geonameid)
    if changes.get("radius_m") is not None:
        if changes["radius_m"] < 0:
            raise UsageProblem(f"--radius {changes['radius_m']:g} cannot be negative")
        new["radius_m"] = float(changes["radius_m"])
    if changes.get("method") is not None:
        new["method"] = claims.choose(changes["method"], claims.METHODS, "method")
    if changes.get("confidence") is not None:
        new["confidence"] = claims.choose(changes["confidence"], claims.CONFIDENCES,
                                          "confidence")
    for key in ("source_url", "note"):
        if changes.get(key) is not None:
            new[key] = changes[key] or None
    notices: list[str] = []
    with transaction(conn):
        name = changes.get("claimant")
        if name is not None:
            new["claimant"] = (actors.resolve_or_create(conn, name, by=by, notices=notices).id
                               if name.strip() else None)
        changed = [k for k in keys if new[k] != values[k]]
        if not changed:
            raise UsageProblem(f"nothing to correct: the values given are claim {seq}'s own")
        event = log.record(conn, "event.corrected",
                           {**new, "event": seq, "corrects": "claim", "changed": changed,
                            "reason": why}, by=by, item=old["item"])
    return Done(event.seq, f"claim {seq} corrected ({', '.join(changed)})", notices)


def for_item(conn: sqlite3.Connection, sha256: str) -> list[dict[str, Any]]:
    """Every retraction, correction and withdrawal concerning the item, oldest first."""
    return [dict(r) for r in conn.execute(
        "SELECT * FROM corrections_log WHERE item = ? ORDER BY id", (sha256,))]
