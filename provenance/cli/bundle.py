"""`prov bundle` and `prov import`: handing a case to another investigator."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from provenance.cli.common import GLOBALS, JsonOpt, boundary, emit_json, err, signing_key
from provenance.cli.outfile import check_out, writing_to


@boundary
def bundle(
    case: Annotated[str, typer.Option(help="The case to bundle.")],
    out: Annotated[Path, typer.Option(help="The zip file to write.")],
    key: Annotated[
        Path | None,
        typer.Option(help="Ed25519 private key to sign with (default: $PROV_SIGNING_KEY)."),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Write a case's originals, manifest and events (with the chain proving them) to a zip."""
    from provenance.case import bundle as core

    out = check_out(out, f"{case}.zip")
    conn = GLOBALS.open()
    key_file = signing_key(key)
    with writing_to(out):
        summary = core.write_bundle(conn, case, out, by=GLOBALS.investigator, key_file=key_file)
    if as_json:
        emit_json(summary.to_json())
        return
    signed = "signed" if summary.signed else "unsigned"
    typer.echo(f"bundle {out}: case {case!r}, {summary.items} items ({summary.originals}"
               f" originals), {summary.events} events, {signed}, log head {summary.head[:16]}…")


@boundary
def import_(
    path: Annotated[Path, typer.Argument(help="A bundle written by `prov bundle`.")],
    public_key: Annotated[
        Path | None, typer.Option(help="The sender's Ed25519 public key, to check the signature.")
    ] = None,
    from_: Annotated[
        str | None,
        typer.Option("--from", help="Who handed it over (default: the bundle's creator)."),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Check a bundle (paths, hashes, chain, signature) and merge it; all or nothing."""
    from provenance.case import bundle as core

    conn = GLOBALS.open()
    summary = core.import_bundle(conn, path, by=GLOBALS.investigator, public_key=public_key,
                                 received_from=from_)
    if as_json:
        emit_json(summary.to_json())
        return
    for warning in summary.warnings:
        err(f"warning: {warning}")
    typer.echo(f"imported {path}: case {summary.case!r}, {summary.new_items} new items,"
               f" {summary.known_items} already held, {summary.events_recorded} events recorded"
               f" ({summary.events_skipped} already imported)")
