"""`prov snapshot`: a read-only copy of the database for a team to browse and verify."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from provenance.cli.common import GLOBALS, JsonOpt, boundary, emit_json, err, say, signing_key


@boundary
def snapshot(
    out: Annotated[Path, typer.Argument(help="The snapshot's file (must not exist yet).")],
    originals: Annotated[bool, typer.Option(
        "--originals", help="Copy the stored originals too (each re-hashed as it is copied),"
                            " so `prov verify` and `prov get` work on the snapshot.")] = False,
    key: Annotated[Path | None, typer.Option(
        help="Ed25519 private key to sign the snapshot's checkpoint (default:"
             " $PROV_SIGNING_KEY).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """A read-only snapshot of the database for a team (serve it, verify it, bundle from it):
    one consistent copy, never written to, with its checkpoint beside it."""
    from provenance.ledger import snapshot as snap

    key_file = signing_key(key)
    conn = GLOBALS.open(write=False)
    result = snap.take(conn, out, by=GLOBALS.investigator, originals=originals,
                       key_file=key_file, progress=None if as_json else err)
    for line in result.damaged:
        err(line)
    if as_json:
        emit_json({"snapshot": str(result.path), "events": result.events, "head": result.head,
                   "checkpoint": str(result.checkpoint),
                   "store": str(result.store) if result.store else None,
                   "originals_copied": result.originals_copied,
                   "originals_absent": result.originals_absent, "damaged": result.damaged})
    else:
        say(f"snapshot: {result.path} ({result.events} events, head {result.head[:16]}…),"
            f" read-only; checkpoint → {result.checkpoint}")
        if originals:
            say(f"originals: {result.originals_copied} copied to {result.store}"
                + (f", {result.originals_absent} not held in the source's store either"
                   if result.originals_absent else "")
                + (f", {len(result.damaged)} damaged (not copied)" if result.damaged else ""))
        say(f"browse: prov --db {result.path} serve; check: prov --db {result.path} verify"
            f"{'' if originals else ' --no-rehash'} --checkpoint {result.checkpoint}")
    if result.damaged:
        raise typer.Exit(1)
