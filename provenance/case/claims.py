"""Geolocation claims and their reviews; checking them against the file's GPS and each other."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from provenance.case import actors, retracted
from provenance.errors import Ambiguous, BadInput, NotFound, ProvError, UsageProblem
from provenance.ledger import log

if TYPE_CHECKING:
    from provenance.geo.gazetteer import Place

METHODS = ("exif", "geolocated", "caption", "reported", "investigator")
CONFIDENCES = ("low", "medium", "high")
STATUSES = ("verified", "disputed", "refuted")


@dataclass
class ClaimInput:
    coords: str | None = None
    place: str | None = None
    geonameid: int | None = None
    country: str | None = None
    claimant: str | None = None
    method: str = "reported"
    confidence: str | None = None
    radius_m: float | None = None
    source_url: str | None = None
    note: str | None = None
    online: bool = False


@dataclass
class Recorded:
    id: int
    latitude: float
    longitude: float
    place: str | None
    notices: list[str] = field(default_factory=list)


def _choose(value: str | None, allowed: tuple[str, ...], what: str) -> str | None:
    if value is None:
        return None
    wanted = value.strip().lower()
    if wanted not in allowed:
        raise UsageProblem(f"unknown {what} {value!r}; use one of: {', '.join(allowed)}")
    return wanted


choose = _choose  # for corrections, which check a corrected claim's values the same way


def describe_place(p: Place, *, landmark: bool = False) -> str:
    """One line per candidate. With `landmark`, the nearest town too: namesakes in one region
    (the two Primorsky Sergeevkas) differ in little else a reader recognises."""
    region = ", ".join(x for x in (p.admin1_name or (f"region {p.admin1_code}" if p.admin1_code
                                                      else None), p.country_name) if x)
    pop = f", pop. {p.population:,}" if p.population else ""
    gid = f"geonameid {p.geonameid}" if p.geonameid else p.source
    near = ""
    if landmark and p.source == "geonames":
        from provenance.geo import gazetteer

        town = gazetteer.open_gazetteer().landmark(p.latitude, p.longitude)
        if town is not None:
            way = gazetteer.compass(town.place.latitude, town.place.longitude, p.latitude,
                                    p.longitude)
            near = f", {town.distance_km:.0f} km {way} of {town.place.name}"
    return f"{p.name} ({region}) at {p.latitude:.4f}, {p.longitude:.4f}{pop}{near} [{gid}]"


def online_lookup(name: str, investigator: str) -> list[Place]:
    """Nominatim, only when asked (--online); its failures become one clear line."""
    from geopy.exc import GeopyError

    from provenance.geo import gazetteer

    try:
        return gazetteer.lookup_online(
            name, user_agent=f"prov/0.1 (evidence provenance; {investigator})")
    except GeopyError as exc:
        raise ProvError(f"online geocoding of {name!r} failed: {exc}") from None


def resolve_place(given: ClaimInput, *, investigator: str) -> Place:
    """The one place the claim names; refuse to guess between several."""
    from provenance.geo import gazetteer

    assert given.place is not None
    if given.online:
        candidates = online_lookup(given.place, investigator)
    else:
        try:
            candidates = gazetteer.lookup(given.place, country=given.country)
        except BadInput as exc:
            raise UsageProblem(str(exc)) from None
    if given.geonameid is not None:
        candidates = [p for p in candidates if p.geonameid == given.geonameid]
        if not candidates:
            raise NotFound(f"no place {given.place!r} has geonameid {given.geonameid}; "
                           f"`prov geo lookup {given.place!r}` lists the candidates")
    if not candidates:
        hint = "" if given.online else ", or --online to ask OpenStreetMap's Nominatim"
        raise NotFound(f"unknown place {given.place!r}: try another spelling, give --coords{hint}")
    if len(candidates) > 1:
        lines = [describe_place(p, landmark=True) for p in candidates]
        raise Ambiguous(
            f"place {given.place!r} could mean {len(candidates)} places;"
            " prov will not pick one:\n  "
            + "\n  ".join(lines)
            + "\nchoose with --geonameid N (or --country, or give --coords)",
            lines,
        )
    return candidates[0]


# Actor kinds that cannot be the investigator who records: `prov --by CNN geo claim …` put
# the claimant's --by before the command, where it names the recorder.
NOT_A_PERSON = ("organisation", "platform", "account")


def recorder_slip(conn: sqlite3.Connection, investigator: str, *, explicit: bool,
                  claimant: str | None) -> list[str]:
    """Warnings when the investigator (the global --by) looks like the claimant instead.

    It does when it names an actor that is not a person, or one that has made claims. With
    the global --by typed and no claimant given, that placement is refused: the claim would
    be recorded as unattributed, by the claimant. Otherwise the claim goes in, with a warning.
    """
    row = conn.execute(
        "SELECT a.name, a.kind, (SELECT COUNT(*) FROM claims c WHERE c.claimant = a.id)"
        " AS claims FROM actors a WHERE a.name = ? COLLATE NOCASE",
        (" ".join(investigator.split()),)).fetchone()
    if row is None or (row["kind"] not in NOT_A_PERSON and not row["claims"]):
        return []
    what = (f"the {row['kind']} actor {row['name']!r}" if row["kind"] in NOT_A_PERSON
            else f"the actor {row['name']!r}, who makes claims")
    if explicit and claimant is None:
        raise UsageProblem(
            f"--by {investigator} before `geo claim` names who records the claim (the"
            f" investigator), and that is {what}: to record that {row['name']} makes the"
            f" claim, put --by after the command (`prov geo claim ITEM … --by"
            f" {row['name']!r}`); to record as {row['name']} anyway, set $PROV_INVESTIGATOR")
    return [f"the investigator recording this claim is {what}; the investigator is --by"
            " before the command (or $PROV_INVESTIGATOR), the claimant --by after it"]


def record(conn: sqlite3.Connection, sha256: str, given: ClaimInput, *, by: str) -> Recorded:
    """Record one geolocation claim. Nothing is written if any part of it is wrong."""
    from provenance.geo.coords import parse_coords
    from provenance.geo.geocheck import DEFAULT_RADIUS_M
    from provenance.ledger.db import transaction

    method = _choose(given.method, METHODS, "method") or "reported"
    confidence = _choose(given.confidence, CONFIDENCES, "confidence")
    if given.coords is None and given.place is None:
        raise UsageProblem("a claim needs --coords \"LAT, LON\" or --place NAME")
    if given.radius_m is not None and given.radius_m < 0:
        raise UsageProblem(f"--radius {given.radius_m:g} cannot be negative")
    geonameid = None
    if given.coords is not None:
        try:
            lat, lon = parse_coords(given.coords)
        except BadInput as exc:
            raise UsageProblem(f"--coords {exc}") from None
        default_radius = DEFAULT_RADIUS_M.get(method, DEFAULT_RADIUS_M["coords"])
    else:
        place = resolve_place(given, investigator=by)
        lat, lon, geonameid = place.latitude, place.longitude, place.geonameid
        default_radius = DEFAULT_RADIUS_M["place"]
    radius = given.radius_m if given.radius_m is not None else default_radius
    notices: list[str] = []
    with transaction(conn):
        claimant = (actors.resolve_or_create(conn, given.claimant, by=by, notices=notices).id
                    if given.claimant else None)
        if claimant is None:
            notices.append("no claimant given: the claim is recorded as unattributed"
                           " (--by CLAIMANT after `geo claim` says who makes it)")
        event = log.record(conn, "claim.recorded", {
            "latitude": round(lat, 7), "longitude": round(lon, 7), "radius_m": float(radius),
            "place": given.place, "place_geonameid": geonameid, "claimant": claimant,
            "method": method, "confidence": confidence, "source_url": given.source_url,
            "note": given.note,
        }, by=by, item=sha256)
    return Recorded(event.seq, lat, lon, given.place, notices)


def review(conn: sqlite3.Connection, claim_id: int, status: str, reason: str, *, by: str) -> int:
    from provenance.ledger.db import transaction

    wanted = _choose(status, STATUSES, "review status")
    if not reason.strip():
        raise UsageProblem("a review needs --reason: say why")
    row = conn.execute("SELECT item FROM claims WHERE id = ?", (claim_id,)).fetchone()
    if row is None:
        raise NotFound(f"no claim {claim_id}: `prov show ITEM` lists an item's claims")
    with transaction(conn):
        event = log.record(conn, "claim.reviewed", {"claim": claim_id, "status": wanted,
                                                    "reason": reason.strip()},
                           by=by, item=row["item"])
    return event.seq


def claims_for_item(conn: sqlite3.Connection, sha256: str) -> list[dict[str, Any]]:
    rows = conn.execute(
        "SELECT c.*, a.name AS claimant_name FROM claims c LEFT JOIN actors a"
        " ON a.id = c.claimant WHERE c.item = ? ORDER BY c.id", (sha256,)).fetchall()
    out = []
    for r in rows:
        d = dict(r)
        d["reviews"] = [dict(x) for x in conn.execute(
            "SELECT * FROM claim_reviews WHERE claim = ? ORDER BY id", (d["id"],))]
        retracted.annotate(conn, d["reviews"])
        where = f"{d['place']} " if d["place"] else ""
        who = d["claimant_name"] or "unattributed"
        d["summary"] = (
            f"#{d['id']} {who} says {where}({d['latitude']:.5f}, {d['longitude']:.5f},"
            f" ±{d['radius_m']:g} m) by {d['method']}"
            + (f", {d['confidence']} confidence" if d["confidence"] else "")
            + f" — {d['status']}"
            + (f" <{d['source_url']}>" if d["source_url"] else "")
            + f"  [recorded by {d['recorded_by']}]"
        )
        out.append(d)
    retracted.annotate(conn, out)
    return out


def check_for_item(conn: sqlite3.Connection, sha256: str) -> dict[str, Any]:
    """Every claim, the file's own GPS and its near-duplicates' GPS, compared pairwise."""
    from provenance.geo.geocheck import check_points, located

    points = []
    excluded = []
    for c in claims_for_item(conn, sha256):
        if c["retracted"]:
            excluded.append(f"claim #{c['id']} (retracted)")
            continue
        if c["superseded_by"]:
            excluded.append(f"claim #{c['id']} (superseded by #{c['superseded_by']})")
            continue
        if c["status"] == "refuted":
            excluded.append(f"claim #{c['id']} (refuted)")
            continue
        who = c["claimant_name"] or "unattributed"
        points.append(located(f"claim #{c['id']} ({who}, {c['method']})", "claim",
                              c["latitude"], c["longitude"], radius_m=c["radius_m"]))
    item = conn.execute("SELECT gps_latitude, gps_longitude FROM items WHERE sha256 = ?",
                        (sha256,)).fetchone()
    gps_place = None
    if item and item["gps_latitude"] is not None:
        points.append(located("the file's own GPS", "gps", item["gps_latitude"],
                              item["gps_longitude"], method="gps"))
        gps_place = _nearest(item["gps_latitude"], item["gps_longitude"])
    for other in _near_duplicate_gps(conn, sha256):
        points.append(located(f"GPS of near-duplicate {other['sha256'][:12]}",
                              "near-duplicate gps", other["gps_latitude"],
                              other["gps_longitude"], method="gps"))
    check = check_points(points).to_json()
    for pair in check["pairs"]:
        pair["summary"] = (f"{pair['a']} vs {pair['b']}: {pair['distance_m'] / 1000:.2f} km apart"
                           f" (tolerance {pair['tolerance_m'] / 1000:.2f} km) — {pair['verdict']}")
    check["excluded"] = excluded
    check["gps_nearest_place"] = gps_place
    return check


def _nearest(lat: float, lon: float) -> dict[str, Any] | None:
    from provenance.geo import gazetteer

    try:
        near = gazetteer.nearest(lat, lon)
    except (BadInput, NotFound, OSError):
        return None
    return {"place": near.place.to_json(), "distance_km": round(near.distance_km, 2),
            "summary": f"{near.distance_km:.1f} km from {describe_place(near.place)}"}


def _near_duplicate_gps(conn: sqlite3.Connection, sha256: str) -> list[sqlite3.Row]:
    return conn.execute(
        "SELECT DISTINCT i.sha256, i.gps_latitude, i.gps_longitude FROM near_duplicates n"
        " JOIN items i ON i.sha256 = CASE WHEN n.item = ? THEN n.other ELSE n.item END"
        " WHERE (n.item = ? OR n.other = ?) AND i.gps_latitude IS NOT NULL ORDER BY i.sha256",
        (sha256, sha256, sha256)).fetchall()
