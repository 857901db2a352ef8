"""`prov analyse [ITEM...]`: the perceptual analysis a capture deferred, and when it runs."""

from __future__ import annotations

import enum
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


class When(enum.StrEnum):
    background = "background"
    now = "now"
    later = "later"


AnalyseOpt = Annotated[When, typer.Option(
    "--analyse", envvar="PROV_ANALYSE",
    help="When the captured videos, sounds and documents are analysed (perceptual hashes,"
    " re-upload check), once secured: background (a process of its own; the command returns"
    " at once), now (before it returns) or later (`prov analyse`). Default: $PROV_ANALYSE,"
    " else background.")]


@boundary
def analyse(
    items: Annotated[list[str] | None, typer.Argument(
        help="Items (SHA-256, prefix or name); none: every item whose analysis is pending.",
        show_default=False)] = None,
    as_json: JsonOpt = False,
) -> None:
    """Analyse captured items: perceptual hashes, keypoints, text, and the re-upload check.

    `prov capture` secures what it downloads first (hashes, stored copy, WACZ, collection
    record, one transaction) and leaves the decoding of videos, sounds and documents for
    later, in the background by default; this records it (event item.analysed). An item
    already analysed, or being analysed by another `prov analyse`, is skipped.
    """
    from provenance.case import items as registry

    conn = GLOBALS.open()
    shas = [registry.resolve(conn, i) for i in items] if items else None
    outcomes = run(conn, shas, quiet=as_json)
    if as_json:
        emit_json([o.to_json() for o in outcomes])
    if not outcomes and shas is None and not as_json:
        say("no item is waiting for its analysis")
    if failed(outcomes):
        raise typer.Exit(1)


def failed(outcomes: list[Any]) -> bool:
    return any(o.status in ("error", "failed") for o in outcomes)


def run(conn: Any, shas: list[str] | None, *, quiet: bool = False) -> list[Any]:
    """Analyse; problems on stderr, and (unless `quiet`: --json) one line per item."""
    from provenance.ingest import deferred

    outcomes = deferred.analyse_items(conn, shas, by=GLOBALS.investigator)
    for o in outcomes:
        for warning in o.warnings:
            err(f"warning: {short(o.sha256)}: {warning}")
        if o.status == "error":
            err(f"error: {short(o.sha256)}: {o.error}")
        elif o.status == "failed":
            err(f"error: {short(o.sha256)}: cannot be analysed: {o.error} (recorded, event"
                f" {o.event})")
    for o in [] if quiet else outcomes:
        if o.status == "skipped":
            say(f"skipped  {short(o.sha256)}  {o.note}")
        elif o.status == "analysed":
            say(f"analysed {short(o.sha256)}  {o.kind:<8} {o.hashes} perceptual hash(es),"
                f" event {o.event}")
            for m in o.matches:
                say(f"       ↳ {m['verdict']} of {short(m['sha256'])} ({evidence_line(m)})")
            if o.withdrawn_left_out:
                say(f"       ↳ and {o.withdrawn_left_out} withdrawn item(s) it resembles"
                    " (recorded; `prov show` lists them)")
    return outcomes


def after_capture(conn: Any, pending: list[str], when: When, *, as_json: bool
                  ) -> dict[str, Any]:
    """Start (or run, or leave) the analysis of what a capture secured; one line says which."""
    from provenance.ingest import deferred

    if not pending:
        return {"pending": [], "when": when.value}
    n = f"{len(pending)} item(s)"
    if when is When.now:
        outcomes = run(conn, pending, quiet=as_json)
        return {"pending": pending, "when": "now", "outcomes": [o.to_json() for o in outcomes],
                "failed": failed(outcomes)}
    if when is When.later:
        _tell(as_json, f"analysis of {n} left for later: `prov analyse` runs it (until then"
                       " `prov show` says 'analysis pending')")
        return {"pending": pending, "when": "later"}
    try:
        proc = deferred.start_background(conn, pending, by=GLOBALS.investigator)
    except OSError as exc:
        err(f"warning: the analysis of {n} could not be started in the background"
            f" ({exc.strerror or exc}): `prov analyse` runs it")
        return {"pending": pending, "when": "later"}
    _tell(as_json, f"analysing {n} in the background (process {proc.pid}; output in"
                   f" {deferred.background_log(conn)}): `prov show ITEM` says when it is done")
    return {"pending": pending, "when": "background", "pid": proc.pid}


def _tell(as_json: bool, line: str) -> None:
    # With --json, stdout holds the JSON document only: the line goes to stderr.
    (err if as_json else say)(line)
