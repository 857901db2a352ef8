"""`prov status`, `review`, `flag` and `prov incident …`: the review workflow and incidents."""

from __future__ import annotations

import sqlite3
from typing import Annotated

import typer

from provenance.cli.common import GLOBALS, JsonOpt, boundary, emit_json, err, say

incident_app = typer.Typer(
    help="Incidents: named events (a date, a place) that items show, and how they relate.",
    no_args_is_help=True,
)

ItemsArg = Annotated[list[str] | None, typer.Argument(
    help="Items: SHA-256 or unique prefixes (6+ hex digits); or select with --case/--status.",
    show_default=False)]
CaseOpt = Annotated[str | None, typer.Option("--case", help="Every item of this case.")]
StatusSel = Annotated[str | None, typer.Option(
    "--status", help="Every item whose status is now this one.")]
TagOpt = Annotated[str | None, typer.Option("--tag", help="Every item with this tag.")]
NoteOpt = Annotated[str | None, typer.Option(help="Why, or what is left to do.")]


def _select(conn: sqlite3.Connection, refs: list[str] | None, case: str | None, status: str | None,
            tag: str | None) -> list[str]:
    from provenance.case import workflow

    return workflow.select(conn, list(refs or []), case=case, status=status, tag=tag)


def _report(recorded: list[int], notices: list[str], what: str) -> None:
    for notice in notices:
        err(f"notice: {notice}")
    say(f"{what}: {len(recorded)} event(s) recorded" + (
        f" ({', '.join(str(s) for s in recorded)})" if recorded else ""))


@boundary
def status(
    args: Annotated[list[str], typer.Argument(
        help="ITEM... STATUS: the items (or none, with --case/--status) and the new status:"
             " to-do, in-progress, help-needed, ready-for-review, completed, cancelled.",
        show_default=False)],
    note: NoteOpt = None,
    assign: Annotated[str | None, typer.Option(
        "--assign", help="Assign to this person (an actor of kind person).")] = None,
    unassign: Annotated[bool, typer.Option("--unassign", help="Leave it unassigned.")] = False,
    case: CaseOpt = None,
    select_status: StatusSel = None,
    tag: TagOpt = None,
) -> None:
    """Move items to a review status (completed needs a second investigator's approval)."""
    from provenance.case import workflow

    *refs, wanted = args
    workflow.choose(wanted, workflow.STATUSES, "status")
    conn = GLOBALS.open()
    shas = _select(conn, refs, case, select_status, tag)
    done = workflow.set_status(conn, shas, wanted, by=GLOBALS.investigator, note=note,
                               assign=assign, unassign=unassign)
    _report(done.recorded, done.notices, f"{len(shas)} item(s) now {wanted.strip().lower()}")


@boundary
def review(
    items: ItemsArg = None,
    approve: Annotated[bool, typer.Option("--approve", help="Sign the work off.")] = False,
    reject: Annotated[bool, typer.Option("--reject", help="Send it back.")] = False,
    reason: Annotated[str, typer.Option(help="What was checked, or what is wrong.")] = "",
    case: CaseOpt = None,
    select_status: StatusSel = None,
    tag: TagOpt = None,
) -> None:
    """Sign off (or reject) items ready for review; never one's own submission."""
    from provenance.case import workflow
    from provenance.errors import UsageProblem

    if approve == reject:
        raise UsageProblem("give --approve or --reject (one of them)")
    conn = GLOBALS.open()
    shas = _select(conn, items, case, select_status, tag)
    done = workflow.review(conn, shas, "approved" if approve else "rejected", reason,
                           by=GLOBALS.investigator)
    _report(done.recorded, done.notices,
            f"{len(shas)} item(s) {'approved' if approve else 'rejected'}")


@boundary
def flag(
    args: Annotated[list[str], typer.Argument(
        help="ITEM... FLAG: the items (or none, with --case/--status) and the flag:"
             " graphic-violence, personal-information, deceased-persons, deleted-by-source,"
             " deceptive.", show_default=False)],
    remove: Annotated[bool, typer.Option("--remove", help="Clear the flag instead.")] = False,
    note: NoteOpt = None,
    case: CaseOpt = None,
    select_status: StatusSel = None,
    tag: TagOpt = None,
) -> None:
    """Flag items as sensitive media (graphic ones are blurred until a viewer asks)."""
    from provenance.case import workflow

    *refs, wanted = args
    workflow.choose(wanted, workflow.FLAGS, "flag")
    conn = GLOBALS.open()
    shas = _select(conn, refs, case, select_status, tag)
    done = workflow.set_flag(conn, shas, wanted, by=GLOBALS.investigator, note=note,
                             remove=remove)
    _report(done.recorded, done.notices, f"{'unflagged' if remove else 'flagged'} {wanted}")


@incident_app.command("add")
@boundary
def incident_add(
    name: Annotated[str, typer.Argument(help="The incident's name (unique).")],
    at: Annotated[str | None, typer.Option(
        help="When, as precisely as known: 2024, 2024-10, 2024-10-17,"
             " 2024-10-17T09:30+09:00; prefix ~ for approximate.")] = None,
    approximate: Annotated[bool, typer.Option("--approximate",
                                              help="The date is approximate.")] = False,
    coords: Annotated[str | None, typer.Option(
        help="Where: \"LAT, LON\" (decimal, DMS or ISO 6709).")] = None,
    place: Annotated[str | None, typer.Option(help="Where: a place name (gazetteer).")] = None,
    geonameid: Annotated[int | None, typer.Option(
        help="Which place of that name (see `prov geo lookup`).")] = None,
    country: Annotated[str | None, typer.Option(help="Country code to choose the place.")] = None,
    radius: Annotated[float | None, typer.Option(help="Uncertainty radius in metres.")] = None,
    note: Annotated[str | None, typer.Option(help="What happened.")] = None,
    online: Annotated[bool, typer.Option("--online", help="Ask Nominatim for the place.")] = False,
    related: Annotated[list[str] | None, typer.Option(
        "--related", help="A related incident (repeatable).")] = None,
) -> None:
    """Create an incident: a name, a date (with its precision) and a place."""
    from provenance.case import incidents

    conn = GLOBALS.open()
    done = incidents.add(conn, incidents.IncidentInput(
        name=name, at=at, approximate=approximate, coords=coords, place=place,
        geonameid=geonameid, country=country, radius_m=radius, note=note, online=online,
        related=list(related or [])), by=GLOBALS.investigator)
    for notice in done.notices:
        err(f"notice: {notice}")
    say(f"incident {done.id}: {' '.join(name.split())}"
        + (f" (related to {len(done.recorded)})" if done.recorded else ""))


@incident_app.command("link")
@boundary
def incident_link(
    incident: Annotated[str, typer.Argument(help="The incident's name.")],
    items: ItemsArg = None,
    related: Annotated[list[str] | None, typer.Option(
        "--related", help="Relate another incident to this one (repeatable).")] = None,
    case: CaseOpt = None,
    select_status: StatusSel = None,
    tag: TagOpt = None,
) -> None:
    """Link items (or --case/--status selections) and related incidents to an incident."""
    from provenance.case import incidents

    conn = GLOBALS.open()
    picked = bool(items) or case is not None or select_status is not None or tag is not None
    shas = _select(conn, items, case, select_status, tag) if picked or not related else []
    done = incidents.link(conn, incident, shas, by=GLOBALS.investigator, related=related)
    _report(done.recorded, done.notices, f"incident {' '.join(incident.split())!r}")


@incident_app.command("list")
@boundary
def incident_list(as_json: JsonOpt = False) -> None:
    """Every incident, with its date, place and how many items show it."""
    from provenance.case import incidents

    conn = GLOBALS.open(write=False)
    rows = incidents.list_incidents(conn)
    if as_json:
        emit_json(rows)
        return
    if not rows:
        say("no incidents")
    for r in rows:
        when = r["when"]["display"] if r["when"] else "undated"
        say(f"{r['id']:>6}  {r['name']:<36} {when:<26} {r['place'] or '-':<20}"
            f" {r['items']} item(s)")


@incident_app.command("show")
@boundary
def incident_show(
    incident: Annotated[str, typer.Argument(help="The incident's name.")],
    as_json: JsonOpt = False,
) -> None:
    """One incident: when, where, its items with their status, related incidents."""
    from provenance.case import incidents

    conn = GLOBALS.open(write=False)
    doc = incidents.describe(conn, incident)
    if as_json:
        emit_json(doc)
        return
    say(f"incident {doc['id']}: {doc['name']}")
    say(f"  when:  {doc['when']['display'] if doc['when'] else 'undated'}")
    if doc["latitude"] is not None:
        say(f"  where: {doc['place'] or ''} ({doc['latitude']:.5f}, {doc['longitude']:.5f},"
            f" ±{doc['radius_m']:g} m)")
    if doc["note"]:
        say(f"  note:  {doc['note']}")
    for it in doc["items"]:
        who = f", {it['assignee']}" if it["assignee"] else ""
        flags = f" [{it['flags']}]" if it["flags"] else ""
        say(f"  item {it['sha256'][:12]}  {it['status']}{who}  {it['file_name'] or '-'}{flags}")
    for r in doc["related"]:
        say(f"  related: {r['name']}")
