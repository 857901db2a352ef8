"""Incidents: named events in the world (a date, a place), the items that show them, and how
incidents relate to each other."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from typing import Any

from provenance.case.claims import ClaimInput, resolve_place
from provenance.case.when import parse_when
from provenance.errors import Ambiguous, BadInput, NotFound, UsageProblem
from provenance.ledger import log


@dataclass
class IncidentInput:
    name: str
    at: str | None = None
    approximate: bool = False
    coords: str | None = None
    place: str | None = None
    geonameid: int | None = None
    country: str | None = None
    radius_m: float | None = None
    note: str | None = None
    online: bool = False
    related: list[str] = field(default_factory=list)


@dataclass
class Outcome:
    id: int
    recorded: list[int] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)


def _normal(name: str) -> str:
    return " ".join(name.split())


def find(conn: sqlite3.Connection, name: str) -> sqlite3.Row:
    """The incident called `name` (case-insensitive), or a refusal listing the close ones."""
    wanted = _normal(name)
    if not wanted:
        raise UsageProblem("an incident name cannot be empty")
    row = conn.execute("SELECT * FROM incidents WHERE name = ? COLLATE NOCASE",
                       (wanted,)).fetchone()
    if row is not None:
        return row
    like = [str(r[0]) for r in conn.execute(
        "SELECT name FROM incidents WHERE instr(lower(name), lower(?)) > 0 ORDER BY name",
        (wanted,))]
    if like:
        raise Ambiguous(f"no incident {wanted!r}; did you mean:\n  " + "\n  ".join(like), like)
    raise NotFound(f"no incident {wanted!r}: `prov incident add {wanted!r}` creates it,"
                   " `prov incident list` lists them")


def _where(given: IncidentInput, by: str) -> dict[str, Any]:
    """The incident's place, parsed exactly as a geolocation claim's (coords, or a gazetteer
    place chosen without guessing)."""
    from provenance.geo.coords import parse_coords
    from provenance.geo.geocheck import DEFAULT_RADIUS_M

    if given.radius_m is not None and given.radius_m < 0:
        raise UsageProblem(f"--radius {given.radius_m:g} cannot be negative")
    if given.coords is not None:
        try:
            lat, lon = parse_coords(given.coords)
        except BadInput as exc:
            raise UsageProblem(f"--coords {exc}") from None
        radius, geonameid = DEFAULT_RADIUS_M["coords"], None
    elif given.place is not None:
        place = resolve_place(ClaimInput(place=given.place, geonameid=given.geonameid,
                                         country=given.country, online=given.online),
                              investigator=by)
        lat, lon, geonameid = place.latitude, place.longitude, place.geonameid
        radius = DEFAULT_RADIUS_M["place"]
    else:
        return {"latitude": None, "longitude": None, "radius_m": None, "place": None,
                "place_geonameid": None}
    return {"latitude": round(lat, 7), "longitude": round(lon, 7),
            "radius_m": float(given.radius_m if given.radius_m is not None else radius),
            "place": given.place, "place_geonameid": geonameid}


def add(conn: sqlite3.Connection, given: IncidentInput, *, by: str) -> Outcome:
    """Create an incident (and its relations to existing ones): one transaction."""
    from provenance.ledger.db import transaction

    name = _normal(given.name)
    if not name:
        raise UsageProblem("an incident name cannot be empty")
    try:
        when = parse_when(given.at, approximate=given.approximate) if given.at else None
    except BadInput as exc:
        raise UsageProblem(f"--at {exc}") from None
    where = _where(given, by)
    with transaction(conn):
        existing = conn.execute("SELECT id, name FROM incidents WHERE name = ? COLLATE NOCASE",
                                (name,)).fetchone()
        if existing is not None:
            raise UsageProblem(f"incident {existing['name']!r} already exists (id"
                               f" {existing['id']}); `prov incident link` adds items to it")
        others = [find(conn, r) for r in given.related]
        event = log.record(conn, "incident.created", {
            "name": name, "at": when.to_json() if when else None, **where, "note": given.note,
        }, by=by)
        out = Outcome(event.seq)
        for other in others:
            out.recorded.append(_relate(conn, event.seq, other, by=by, notices=out.notices))
    return out


def _relate(conn: sqlite3.Connection, incident: int, other: sqlite3.Row, *, by: str,
            notices: list[str]) -> int:
    if other["id"] == incident:
        raise UsageProblem(f"incident {other['name']!r} cannot be related to itself")
    return log.record(conn, "incident.related", {"incident": incident, "other": other["id"]},
                      by=by).seq


def link(conn: sqlite3.Connection, name: str, shas: list[str], *, by: str,
         related: list[str] | None = None) -> Outcome:
    """Link items (and related incidents) to an incident; what is linked already is left
    alone with a notice. One transaction: all or nothing."""
    from provenance.ledger.db import transaction

    with transaction(conn):
        incident = find(conn, name)
        others = [find(conn, r) for r in related or []]
        out = Outcome(int(incident["id"]))
        for sha in shas:
            if conn.execute("SELECT 1 FROM incident_items WHERE incident = ? AND item = ?",
                            (incident["id"], sha)).fetchone():
                out.notices.append(f"{sha[:12]} is in incident {incident['name']!r} already")
                continue
            out.recorded.append(log.record(conn, "incident.linked", {"incident": incident["id"]},
                                           by=by, item=sha).seq)
        for other in others:
            if conn.execute("SELECT 1 FROM incident_relations WHERE (incident = ? AND other = ?)"
                            " OR (incident = ? AND other = ?)",
                            (incident["id"], other["id"], other["id"], incident["id"])).fetchone():
                out.notices.append(f"incidents {incident['name']!r} and {other['name']!r} are"
                                   " related already")
                continue
            out.recorded.append(_relate(conn, int(incident["id"]), other, by=by,
                                        notices=out.notices))
    return out


def _when(row: dict[str, Any]) -> dict[str, Any] | None:
    if not row.get("at_text"):
        return None
    return parse_when(row["at_text"], approximate=bool(row.get("at_approximate"))).reading()


def describe(conn: sqlite3.Connection, name: str) -> dict[str, Any]:
    """One incident: when and where, its items (with their status) and related incidents."""
    row = dict(find(conn, name))
    row["when"] = _when(row)
    row["at_approximate"] = bool(row["at_approximate"])
    row["items"] = [dict(r) for r in conn.execute(
        "SELECT w.item AS sha256, w.kind, w.file_name, w.status, w.assignee, w.flags,"
        " x.recorded_at AS linked_at, x.recorded_by AS linked_by FROM incident_items x"
        " JOIN item_workflow w ON w.item = x.item WHERE x.incident = ? ORDER BY x.id",
        (row["id"],))]
    row["related"] = [dict(r) for r in conn.execute(
        "SELECT n.id, n.name, n.at_text, n.place FROM incident_relations r JOIN incidents n"
        " ON n.id = CASE WHEN r.incident = ? THEN r.other ELSE r.incident END"
        " WHERE r.incident = ? OR r.other = ? ORDER BY n.name COLLATE NOCASE",
        (row["id"], row["id"], row["id"]))]
    return row


def list_incidents(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    rows = conn.execute(
        "SELECT n.*, (SELECT COUNT(*) FROM incident_items x WHERE x.incident = n.id) AS items"
        " FROM incidents n ORDER BY n.name COLLATE NOCASE")
    out = []
    for r in rows:
        d = dict(r)
        d["at_approximate"] = bool(d["at_approximate"])
        d["when"] = _when(d)
        out.append(d)
    return out


def item_shas(conn: sqlite3.Connection, name: str) -> list[str]:
    incident = find(conn, name)
    return [str(r[0]) for r in conn.execute(
        "SELECT x.item FROM incident_items x JOIN items i ON i.sha256 = x.item"
        " WHERE x.incident = ? ORDER BY i.registered_event", (incident["id"],))]
