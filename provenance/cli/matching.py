"""`prov match` and `prov dupes`: re-uploads and near-duplicate families."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from provenance.cli.common import (
    GLOBALS,
    JsonOpt,
    boundary,
    emit_json,
    err,
    evidence_line,
    say,
    short,
)


@boundary
def match(
    target: Annotated[str, typer.Argument(metavar="FILE|ITEM",
                                          help="A file, or a held item's SHA-256 prefix.")],
    max_distance: Annotated[
        int | None, typer.Option(help="Only hash matches within this many bits.")
    ] = None,
    include_withdrawn: Annotated[bool, typer.Option(
        "--include-withdrawn", help="Match withdrawn items too.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Which held items a file (or item) is a re-upload of, or similar to; best first."""
    import gc

    # One match allocates a bounded amount and leaves no garbage cycles to speak of, while
    # the cyclic collector's passes over the objects of what it imports (numpy, OpenCV,
    # Pillow, the matching code) cost 40-50 ms of its CPU: off while it runs, as it was after.
    collecting = gc.isenabled()
    gc.disable()
    try:
        doc = _find(target, max_distance, include_withdrawn)
    finally:
        if collecting:
            gc.enable()
    # What matching may write (a migration, the hash cache) is committed or renamed into
    # place by now: from here on only stdout is written.
    GLOBALS.done_reading = True
    q = doc["query"]
    for warning in q.get("warnings", []):
        err(f"warning: {q['path'] or q['item']}: {warning}")
    if as_json:
        emit_json(doc)
        return
    say(f"query {q['path'] or q['item']} ({q['kind']}, sha256 {short(q['sha256'])})")
    if not doc["matches"]:
        say("  no near-duplicates held")
    if doc.get("withdrawn_left_out"):
        say(f"  ({doc['withdrawn_left_out']} withdrawn item(s) left out: --include-withdrawn)")
    for m in doc["matches"]:
        say(f"  {m['verdict']:<10} {short(m['sha256'])}  {m['kind'] or '-':<8}"
            f" {evidence_line(m)}")


def _find(target: str, max_distance: int | None, include_withdrawn: bool) -> dict[str, Any]:
    from provenance.ingest.match import match as find

    conn = GLOBALS.open(write=False)
    return find(conn, target, max_distance=max_distance, include_withdrawn=include_withdrawn)


@boundary
def dupes(
    include_withdrawn: Annotated[bool, typer.Option(
        "--include-withdrawn", help="Count withdrawn items in families too.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Every near-duplicate family, its earliest known copy first."""
    from provenance.matching import dupes as core

    conn = GLOBALS.open()
    families = core.families(conn, include_withdrawn=include_withdrawn)
    if as_json:
        emit_json(families)
        return
    if not families:
        say("no near-duplicate families")
    for f in families:
        what = "same-audio family" if f.get("relation") == "same audio" else "family"
        first = f.get("earliest_when")
        dated = f"{first['source']} {first['display']}" if first else "undated"
        say(f"{what} of {f['size']}, earliest {short(f['earliest'])} ({dated})")
        if f.get("order_uncertain"):
            say("  order uncertain: " + ", ".join(short(s) for s in f["order_uncertain"])
                + " may be as early (their dates overlap)")
        for m in f["members"]:
            rel = m["relation_to_earliest"]
            how = f"  {evidence_line(rel)}" if rel else "  (earliest)"
            own = m.get("earliest_when")
            dated = f"  [{own['source']} {own['display']}]" if own else "  [undated]"
            say(f"  {short(m['sha256'])}  {m['kind']:<8} {m['file_name'] or '-':<30}{how}"
                       f"{dated}")
