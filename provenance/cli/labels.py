"""`prov name`, `note`, `tag`, `untag`, `search`, `cases` and `get`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from provenance.cli.common import GLOBALS, ItemArg, JsonOpt, boundary, emit_json, say, short


@boundary
def name(
    item: ItemArg,
    new_name: Annotated[str, typer.Argument(metavar="NAME", help="e.g. arrival-clip (unique;"
                                                               " not hex).")],
) -> None:
    """Give an item a name that works wherever a hash prefix does (history kept)."""
    from provenance.case import items as registry
    from provenance.case import names

    conn = GLOBALS.open()
    sha = registry.resolve(conn, item)
    seq = names.name_item(conn, sha, new_name, by=GLOBALS.investigator)
    say(f"event {seq}: item {short(sha)} named {new_name.strip()!r}")


@boundary
def note(
    item: ItemArg,
    text: Annotated[str, typer.Argument(help="The note.")],
) -> None:
    """Add a note to an item."""
    from provenance.case import items as registry
    from provenance.case import names

    conn = GLOBALS.open()
    sha = registry.resolve(conn, item)
    seq = names.note_item(conn, sha, text, by=GLOBALS.investigator)
    say(f"event {seq}: note added to {short(sha)}")


@boundary
def tag(
    item: ItemArg,
    tags: Annotated[list[str], typer.Argument(help="One or more tags.")],
) -> None:
    """Tag an item (one event per tag; a tag it already carries is left as it is)."""
    from provenance.case import items as registry
    from provenance.case import names

    conn = GLOBALS.open()
    sha = registry.resolve(conn, item)
    added = names.tag_item(conn, sha, tags, by=GLOBALS.investigator)
    say(f"{short(sha)}: tagged {', '.join(added)}" if added
        else f"{short(sha)}: already carries {', '.join(tags)}")


@boundary
def untag(
    item: ItemArg,
    tags: Annotated[list[str], typer.Argument(help="One or more tags.")],
) -> None:
    """Remove tags from an item (an event; the tagging stays in its history)."""
    from provenance.case import items as registry
    from provenance.case import names

    conn = GLOBALS.open()
    sha = registry.resolve(conn, item)
    removed = names.untag_item(conn, sha, tags, by=GLOBALS.investigator)
    say(f"{short(sha)}: untagged {', '.join(removed)}")


@boundary
def search(
    text: Annotated[str, typer.Argument(help='Words to find (all of them); "a phrase" in'
                                             " double quotes.")],
    case: Annotated[str | None, typer.Option(help="Only items sighted in this case.")] = None,
    kind: Annotated[str | None, typer.Option(help="Only items of this kind.")] = None,
    include_withdrawn: Annotated[bool, typer.Option("--include-withdrawn",
                                                    help="Search withdrawn items too.")] = False,
    limit: Annotated[int, typer.Option(help="At most this many results.")] = 200,
    as_json: JsonOpt = False,
) -> None:
    """Search titles, notes, names, tags, custody notes, claims and places, in any script."""
    from provenance.case import textsearch
    from provenance.errors import ProvError

    try:
        conn = GLOBALS.open()
    except ProvError:  # read-only media: the index is topped up in memory
        conn = GLOBALS.open(write=False)
    found = textsearch.search(conn, text, case=case, kind=kind,
                              include_withdrawn=include_withdrawn, limit=limit)
    if as_json:
        emit_json(found)
        return
    if not found["results"]:
        say(f"nothing found for {text!r}")
        return
    for h in found["results"]:
        label = h["name"] or h["file_name"] or ""
        line = f"{short(h['item'])}  {label:<20} {h['field']:<14} {h['snippet']}"
        if h["struck"]:
            line += f"  [{h['struck']}]"
        say(line)
    if found["truncated"]:
        more = found["count"] - len(found["results"])
        # Past COUNT_MAX further hits the count stops: "5,000+ more".
        say(f"... {more:,}{'' if found['count_complete'] else '+'} more (--limit)")


@boundary
def cases(as_json: JsonOpt = False) -> None:
    """Every case, with how many items and sightings it has."""
    from provenance.case.cases import list_cases

    conn = GLOBALS.open(write=False)
    rows = list_cases(conn)
    if as_json:
        emit_json(rows)
        return
    if not rows:
        say("no cases (`prov add --case NAME` files items under one)")
    for r in rows:
        say(f"{r['case']:<30} {r['items']:>6} items  {r['sightings']:>6} sightings")


@boundary
def get(
    item: ItemArg,
    out: Annotated[Path, typer.Option("--out", help="Folder to write the original into.")],
) -> None:
    """Write an item's original into a folder, under its first file name, re-hashed."""
    from provenance.case import items as registry
    from provenance.case.retrieve import write_original

    conn = GLOBALS.open(write=False)
    sha = registry.resolve(conn, item)
    written = write_original(conn, sha, out)
    say(f"{written.path}  ({written.size} bytes, SHA-256 {sha} checked)")
