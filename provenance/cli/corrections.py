"""`prov retract`, `custody correct`, `geo correct`, `reclassify` and `actor rename|merge|edit`:
corrections as new events (nothing recorded is edited or deleted)."""

from __future__ import annotations

from typing import Annotated

import typer

from provenance.cli.common import GLOBALS, ItemArg, boundary, err, say

ReasonOpt = Annotated[str, typer.Option("--reason", help="Why (kept with the record).")]


def _notices(notices: list[str]) -> None:
    for notice in notices:
        err(f"notice: {notice}")


@boundary
def retract(
    target: Annotated[str, typer.Argument(
        help="An event number (custody event, claim, review, sighting, tag, note, name,"
             " correction), or an item (hash prefix or name) to withdraw.")],
    reason: ReasonOpt,
) -> None:
    """Retract an event, or withdraw an item: a new event; the entry stays, struck through."""
    from provenance.case import corrections

    conn = GLOBALS.open()
    kind, what = corrections.target_of(conn, target)
    if kind == "event":
        done = corrections.retract_event(conn, int(what), reason, by=GLOBALS.investigator)
        say(f"event {done.seq}: retracted {done.what}")
    else:
        done = corrections.withdraw_item(conn, str(what), reason, by=GLOBALS.investigator)
        say(f"event {done.seq}: {done.what} (kept and verifiable; `--include-withdrawn` shows"
            " it in list, dupes and match)")


@boundary
def custody_correct(
    event: Annotated[int, typer.Argument(help="The custody event's number.")],
    reason: ReasonOpt,
    action: Annotated[str | None, typer.Option(help="The corrected action.")] = None,
    from_: Annotated[str | None, typer.Option("--from", help="Who gave or did it.")] = None,
    to: Annotated[str | None, typer.Option("--to", help="Who received it.")] = None,
    at: Annotated[str | None, typer.Option(help="The corrected date (~ for approximate).")] = None,
    approximate: Annotated[bool, typer.Option("--approximate", help="The date is approximate.")
                           ] = False,
    url: Annotated[str | None, typer.Option(help="Where it was posted or shared.")] = None,
    note: Annotated[str | None, typer.Option(help="Basis or remarks.")] = None,
    according_to: Annotated[str | None, typer.Option(
        "--according-to", help="On whose account (actor).")] = None,
) -> None:
    """Correct a custody event: recorded again with the values given; the old one stays,
    superseded. An empty value ("") clears a field."""
    from provenance.case import corrections

    conn = GLOBALS.open()
    done = corrections.correct_custody(
        conn, event, {"action": action, "from_actor": from_, "to_actor": to, "at": at,
                      "approximate": approximate, "url": url, "note": note,
                      "asserted_by": according_to}, reason, by=GLOBALS.investigator)
    _notices(done.notices)
    say(f"custody event {done.seq}: {done.what}")


@boundary
def geo_correct(
    claim: Annotated[int, typer.Argument(help="The claim's number.")],
    reason: ReasonOpt,
    coords: Annotated[str | None, typer.Option(help='Corrected "LAT, LON".')] = None,
    place: Annotated[str | None, typer.Option(help="Corrected place name.")] = None,
    geonameid: Annotated[int | None, typer.Option(help="Choose the place by id.")] = None,
    country: Annotated[str | None, typer.Option(help="Choose the place by country.")] = None,
    claimant: Annotated[str | None, typer.Option("--by", help="Who makes the claim.")] = None,
    method: Annotated[str | None, typer.Option(help="exif, geolocated, caption, reported,"
                                                    " investigator.")] = None,
    confidence: Annotated[str | None, typer.Option(help="low, medium, high.")] = None,
    radius: Annotated[float | None, typer.Option(help="Uncertainty radius, metres.")] = None,
    source_url: Annotated[str | None, typer.Option(help="Where the claim was made.")] = None,
    note: Annotated[str | None, typer.Option(help="Basis or remarks.")] = None,
    online: Annotated[bool, typer.Option("--online", help="Ask Nominatim for --place.")
                      ] = False,
) -> None:
    """Correct a claim: recorded again with the values given (it starts unreviewed); the old
    one stays, superseded, with its reviews."""
    from provenance.case import corrections

    conn = GLOBALS.open()
    done = corrections.correct_claim(
        conn, claim, {"coords": coords, "place": place, "geonameid": geonameid,
                      "country": country, "online": online, "radius_m": radius,
                      "method": method, "confidence": confidence, "source_url": source_url,
                      "note": note, "claimant": claimant}, reason, by=GLOBALS.investigator)
    _notices(done.notices)
    say(f"claim {done.seq}: {done.what}")


@boundary
def reclassify(
    item: ItemArg,
    kind: Annotated[str, typer.Option(help="image, video, audio, scan, document or other.")],
    reason: Annotated[str | None, typer.Option(help="Why (kept with the record).")] = None,
) -> None:
    """Change the kind an item was registered as, after analysing its original again."""
    from provenance.case import items as registry
    from provenance.ingest.reclassify import reclassify as run

    conn = GLOBALS.open()
    sha = registry.resolve(conn, item)
    done = run(conn, sha, kind, reason, by=GLOBALS.investigator)
    say(f"event {done.seq}: item {sha[:12]} reclassified {done.previous} -> {done.kind}")


@boundary
def actor_rename(
    name: Annotated[str, typer.Argument(help="The actor's current name (or a former one).")],
    new_name: Annotated[str, typer.Argument(help="The new name.")],
    reason: Annotated[str | None, typer.Option(help="Why.")] = None,
) -> None:
    """Rename an actor; the old name stays an alias that still finds it."""
    from provenance.case import actor_edits

    conn = GLOBALS.open()
    seq = actor_edits.rename(conn, name, new_name, by=GLOBALS.investigator, reason=reason)
    say(f"event {seq}: actor {name!r} renamed {new_name!r}")


@boundary
def actor_merge(
    actor: Annotated[str, typer.Argument(help="The actor to merge away (its name stays an"
                                              " alias).")],
    into: Annotated[str, typer.Argument(help="The actor it is the same as.")],
    reason: ReasonOpt,
) -> None:
    """Merge actor A into actor B: custody and claims naming A name B; A's name finds B."""
    from provenance.case import actor_edits

    conn = GLOBALS.open()
    seq, gone, kept = actor_edits.merge(conn, actor, into, reason, by=GLOBALS.investigator)
    say(f"event {seq}: actor {gone!r} merged into {kept!r}")


@boundary
def actor_edit(
    name: Annotated[str, typer.Argument(help="The actor's name.")],
    kind: Annotated[str | None, typer.Option(help="organisation, person, account, platform"
                                                  " or unknown.")] = None,
    url: Annotated[str | None, typer.Option(help="A web page or profile.")] = None,
    note: Annotated[str | None, typer.Option(help="Who they are.")] = None,
) -> None:
    """Change an existing actor's kind, URL or note."""
    from provenance.case import actor_edits

    conn = GLOBALS.open()
    seq = actor_edits.edit(conn, name, {"kind": kind, "url": url, "note": note},
                           by=GLOBALS.investigator)
    say(f"event {seq}: actor {name!r} edited")
