"""`prov bundle` and `prov import`: handing a case to another investigator."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from provenance.cli.common import GLOBALS, JsonOpt, boundary, emit_json, err, say, signing_key
from provenance.cli.outfile import check_out, writing_to


@boundary
def bundle(
    case: Annotated[str, typer.Option(help="The case to bundle.")],
    out: Annotated[Path, typer.Option(help="The zip file to write.")],
    key: Annotated[
        Path | None,
        typer.Option(help="Ed25519 private key to sign with (default: $PROV_SIGNING_KEY)."),
    ] = None,
    tsa: Annotated[str | None, typer.Option(
        help="NETWORK: ask this RFC 3161 time-stamping authority (http(s) URL) to stamp the"
             " bundle's log head; the token travels in the bundle and is recorded here.",
    )] = None,
    tsa_cert: Annotated[Path | None, typer.Option(
        help="Verify the --tsa reply against these PEM certificates before writing.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Write a case's originals, manifest and events (with the chain proving them) to a zip.

    Every time-stamp the log holds of a head the bundle proves travels with it."""
    from provenance.case import bundle as core

    out = check_out(out, f"{case}.zip")
    conn = GLOBALS.open()
    key_file = signing_key(key)
    with writing_to(out):
        summary = core.write_bundle(conn, case, out, by=GLOBALS.investigator, key_file=key_file,
                                    tsa=tsa, tsa_cert=tsa_cert)
    if as_json:
        emit_json(summary.to_json())
        return
    if summary.stamp:
        err(f"time-stamped: {summary.stamp}"
            + ("" if tsa_cert else " (not verified here: the receiver checks it with"
               " `prov import --tsa-cert CHAIN.pem`)"))
    signed = "signed" if summary.signed else "unsigned"
    stamps = f", {summary.timestamps} time-stamp(s)" if summary.timestamps else ""
    say(f"bundle {out}: case {case!r}, {summary.items} items ({summary.originals}"
        f" originals), {summary.events} events, {signed}{stamps}, log head"
        f" {summary.head[:16]}…")


@boundary
def import_(
    path: Annotated[Path, typer.Argument(help="A bundle written by `prov bundle`.")],
    public_key: Annotated[
        Path | None, typer.Option(help="The sender's Ed25519 public key, to check the signature.")
    ] = None,
    unsigned: Annotated[
        bool, typer.Option("--unsigned", help="Import without checking who wrote the bundle"
                           " (an unsigned bundle, or no key at hand).")
    ] = False,
    from_: Annotated[
        str | None,
        typer.Option("--from", help="Who handed it over (default: the bundle's creator)."),
    ] = None,
    tsa_cert: Annotated[Path | None, typer.Option(
        help="Check every time-stamp the bundle carries against these PEM certificates (the"
             " authority's CA); any that fails refuses the whole import.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Check a bundle (signature, members, chain, events, originals) and merge it; all or
    nothing."""
    from provenance.case import bundle as core
    from provenance.ingest.pixels import check_pixels

    conn = GLOBALS.open()
    summary = core.import_bundle(conn, path, by=GLOBALS.investigator, public_key=public_key,
                                 unsigned=unsigned, received_from=from_,
                                 check_pixels=check_pixels, tsa_cert=tsa_cert)
    if as_json:
        emit_json(summary.to_json())
        return
    for warning in summary.warnings:
        err(f"warning: {warning}")
    for notice in summary.notices:
        err(f"notice: {notice}")
    for stamped in summary.stamped:
        say(f"time-stamp verified: {stamped}")
    signed = (f"signature verified (key {summary.signer[:16]}…)" if summary.signer
              else "signature not checked")
    say(f"imported {path}: case {summary.case!r}, {summary.new_items} new items,"
        f" {summary.known_items} already held, {summary.events_recorded} events recorded"
        f" ({summary.events_skipped} already imported), {signed}")

