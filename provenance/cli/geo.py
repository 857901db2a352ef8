"""`prov geo …`: geolocation claims, their reviews, the gazetteer and the consistency check."""

from __future__ import annotations

from typing import Annotated

import typer

from provenance.cli.common import GLOBALS, ItemArg, JsonOpt, boundary, emit_json, err, say

geo_app = typer.Typer(
    help="Where was it filmed: attributed claims, reviews, the gazetteer, consistency checks.",
    no_args_is_help=True,
)



@geo_app.command("claim")
@boundary
def claim(
    item: ItemArg,
    coords: Annotated[
        str | None,
        typer.Option(help='"43.35, 133.36", "43°21′N 133°21′E", ISO 6709 "+43.35+133.36/", …'),
    ] = None,
    place: Annotated[
        str | None, typer.Option(help="A place name (resolved offline through the gazetteer).")
    ] = None,
    geonameid: Annotated[
        int | None, typer.Option(help="Pick one of several places with that name.")
    ] = None,
    country: Annotated[
        str | None, typer.Option(help="Restrict the place to a country (RU, Russia).")
    ] = None,
    claimant: Annotated[
        str | None, typer.Option("--by", "--claimant", help="Who makes the claim (actor).")
    ] = None,
    method: Annotated[
        str, typer.Option(help="exif, geolocated, caption, reported or investigator.")
    ] = "reported",
    confidence: Annotated[str | None, typer.Option(help="low, medium or high.")] = None,
    radius: Annotated[
        float | None,
        typer.Option(help="Uncertainty radius in metres (default by method: geolocated 100,"
                          " exif 50, place names 5000)."),
    ] = None,
    source_url: Annotated[str | None, typer.Option(help="Where the claim was made.")] = None,
    note: Annotated[str | None, typer.Option(help="The basis of the claim.")] = None,
    online: Annotated[
        bool, typer.Option("--online", help="Resolve --place with OpenStreetMap Nominatim.")
    ] = False,
) -> None:
    """Record who says where an item was filmed, and on what basis."""
    from provenance.case import claims
    from provenance.case import items as registry

    conn = GLOBALS.open()
    sha = registry.resolve(conn, item)
    for warning in claims.recorder_slip(conn, GLOBALS.investigator,
                                        explicit=GLOBALS.by is not None, claimant=claimant):
        err(f"warning: {warning}")
    given = claims.ClaimInput(coords=coords, place=place, geonameid=geonameid, country=country,
                              claimant=claimant, method=method, confidence=confidence,
                              radius_m=radius, source_url=source_url, note=note, online=online)
    recorded = claims.record(conn, sha, given, by=GLOBALS.investigator)
    for notice in recorded.notices:
        err(f"notice: {notice}")
    where = f"{recorded.place} " if recorded.place else ""
    say(f"claim {recorded.id} recorded for {sha[:12]}: {where}"
        f"({recorded.latitude:.5f}, {recorded.longitude:.5f})")


@geo_app.command("review")
@boundary
def review(
    claim_id: Annotated[int, typer.Argument(metavar="CLAIM", help="The claim's number.")],
    status: Annotated[str, typer.Option(help="verified, disputed or refuted.")],
    reason: Annotated[str, typer.Option(help="Why: the evidence for the review.")],
) -> None:
    """Review a claim; every review stays in the claim's history."""
    from provenance.case import claims

    conn = GLOBALS.open()
    seq = claims.review(conn, claim_id, status, reason, by=GLOBALS.investigator)
    say(f"claim {claim_id} reviewed: {status} (event {seq})")


@geo_app.command("lookup")
@boundary
def lookup(
    name: Annotated[str, typer.Argument(help="A place name, in any script or transliteration.")],
    country: Annotated[str | None, typer.Option(help="Only this country (RU, Russia).")] = None,
    online: Annotated[
        bool, typer.Option("--online", help="Ask OpenStreetMap Nominatim instead.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Every place a name may mean (offline gazetteer, GeoNames); never just one."""
    from provenance.case import claims
    from provenance.errors import BadInput, UsageProblem
    from provenance.geo import gazetteer

    try:
        places = (claims.online_lookup(name, GLOBALS.investigator) if online
                  else gazetteer.lookup(name, country=country))
    except BadInput as exc:
        raise UsageProblem(str(exc)) from None
    if as_json:
        emit_json({"query": name, "candidates": [p.to_json() for p in places]})
        return
    if not places:
        say(f"no place called {name!r}" + ("" if online else " (try --online)"))
        return
    say(f"{len(places)} place(s) called {name!r}:")
    for p in places:
        say("  " + claims.describe_place(p, landmark=True))


@geo_app.command("check")
@boundary
def check(item: ItemArg, as_json: JsonOpt = False) -> None:
    """Claims vs the file's own GPS vs its near-duplicates' GPS: distances and verdicts."""
    from provenance.case import claims
    from provenance.case import items as registry

    conn = GLOBALS.open(write=False)
    sha = registry.resolve(conn, item)
    doc = claims.check_for_item(conn, sha)
    if as_json:
        emit_json(doc)
        return
    say(f"geolocation check of {sha[:12]}: {doc['verdict']}")
    if doc.get("gps_nearest_place"):
        say(f"  the file's GPS is {doc['gps_nearest_place']['summary']}")
    for pair in doc["pairs"]:
        say(f"  {pair['summary']}")
    for label in doc["excluded"]:
        say(f"  not compared: {label}")
