"""`prov custody …` and `prov actor …`: chain-of-custody events and the actors they name."""

from __future__ import annotations

from typing import Annotated

import typer

from provenance.cli.common import GLOBALS, ItemArg, JsonOpt, boundary, emit_json, err, say

custody_app = typer.Typer(
    help="Chain of custody: who captured, held, sent and published each copy, and when.",
    no_args_is_help=True,
)
actor_app = typer.Typer(
    help="Organisations, people, accounts and platforms named in custody and claims.",
    no_args_is_help=True,
)



@custody_app.command("add")
@boundary
def custody_add(
    item: ItemArg,
    action: Annotated[
        str,
        typer.Option(help="captured, uploaded, posted, obtained, shared, received, published,"
                          " archived, downloaded, transferred, sent, forwarded, seized, copied."),
    ],
    from_: Annotated[
        str | None, typer.Option("--from", help="Who gave or did it (actor name).")
    ] = None,
    to: Annotated[str | None, typer.Option("--to", help="Who received it (actor name).")] = None,
    at: Annotated[
        str | None,
        typer.Option(help="When, as precisely as known: 2024, 2024-10, 2024-10-17,"
                          " 2024-10-17T09:30+09:00; prefix ~ for approximate."),
    ] = None,
    approximate: Annotated[
        bool, typer.Option("--approximate", help="The date is approximate.")
    ] = False,
    url: Annotated[str | None, typer.Option(help="Where it was posted or shared.")] = None,
    note: Annotated[str | None, typer.Option(help="Basis or remarks.")] = None,
    according_to: Annotated[
        str | None,
        typer.Option("--according-to", help="On whose account (actor), if not yours."),
    ] = None,
) -> None:
    """Record one custody event for an item."""
    from provenance.case import custody
    from provenance.case import items as registry

    conn = GLOBALS.open()
    sha = registry.resolve(conn, item)
    given = custody.CustodyInput(action=action, from_actor=from_, to_actor=to, at=at,
                                 approximate=approximate, url=url, note=note,
                                 asserted_by=according_to)
    recorded = custody.record(conn, sha, given, by=GLOBALS.investigator)
    for notice in recorded.notices:
        err(f"notice: {notice}")
    say(f"custody event {recorded.id} recorded for {sha[:12]}")


@custody_app.command("list")
@boundary
def custody_list(
    item: ItemArg,
    as_json: JsonOpt = False,
) -> None:
    """An item's custody events, in the order recorded, with the chain's flags."""
    from provenance.case import custody
    from provenance.case import items as registry

    conn = GLOBALS.open(write=False)
    sha = registry.resolve(conn, item)
    doc = custody.list_for_item(conn, sha)
    if as_json:
        emit_json(doc)
        return
    if not doc["events"]:
        say(f"no custody events for {sha[:12]}")
    for e in doc["events"]:
        say(f"{e['id']:>6}  {e['summary']}" + (f"  [{e['struck'].upper().split(' BY ')[0]}:"
                                                f" {e['struck']}]" if e.get("struck") else ""))
    for f in doc["flags"]:
        say(f"     !  {f['message']}")
    for ignored in doc.get("ignored", []):
        say(f"     -  not checked for flags: {ignored}")


@actor_app.command("add")
@boundary
def actor_add(
    name: Annotated[str, typer.Argument(help="The actor's name.")],
    kind: Annotated[
        str, typer.Option(help="organisation, person, account, platform or unknown.")
    ] = "unknown",
    url: Annotated[str | None, typer.Option(help="A web page or profile.")] = None,
    note: Annotated[str | None, typer.Option(help="Who they are.")] = None,
) -> None:
    """Create an actor (names are case-insensitive and unique)."""
    from provenance.case import actors
    from provenance.ledger.db import transaction

    conn = GLOBALS.open()
    with transaction(conn):
        actor = actors.create(conn, name, by=GLOBALS.investigator, kind=kind, url=url, note=note)
    say(f"actor {actor.id}: {actor.name} ({actor.kind})")


@actor_app.command("list")
@boundary
def actor_list(as_json: JsonOpt = False) -> None:
    """Every actor, with how many custody events and claims name them."""
    from provenance.case import actors

    conn = GLOBALS.open()
    rows = actors.list_actors(conn)
    if as_json:
        emit_json(rows)
        return
    for a in rows:
        say(f"{a['id']:>6}  {a['name']:<40} {a['kind']:<12} custody {a['custody_events']},"
            f" claims {a['claims']}"
            + (f"  (merged into actor {a['merged_into']})" if a.get("merged_into") else ""))
        for alias in a.get("aliases", []):
            say(f"        also known as {alias['alias']!r} ({alias['how']} by"
                f" {alias['recorded_by']} at {alias['recorded_at']})")
