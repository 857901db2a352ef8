"""`prov verify`, `checkpoint` and `keygen`: proving the log was not edited."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from provenance.cli.common import GLOBALS, JsonOpt, boundary, emit_json, err, say, signing_key
from provenance.cli.outfile import check_out, writing_to


@boundary
def verify(
    checkpoint: Annotated[
        Path | None, typer.Option(help="A checkpoint file to detect truncation or rewrites.")
    ] = None,
    public_key: Annotated[
        Path | None, typer.Option(help="The Ed25519 public key that signed the checkpoint.")
    ] = None,
    tsa_cert: Annotated[Path | None, typer.Option(
        help="PEM certificates of the time-stamping authority, its root CA included: check the"
             " checkpoint's RFC 3161 time-stamp and every one the log records.")] = None,
    since: Annotated[Path | None, typer.Option(
        help="Incremental: start from this checkpoint of this database; only the events after"
             " it are checked and replayed (see the README).")] = None,
    full_chain: Annotated[bool, typer.Option(
        "--full-chain", help="With --since: re-hash the log before the checkpoint too (reads"
                             " the whole log; catches a payload edited without its hashes).")
    ] = False,
    rehash_older_than: Annotated[str | None, typer.Option(
        help="Re-hash only stored originals with no check recorded within this age (e.g. 90d),"
             " and record what was found (one fixity.checked event per run).")] = None,
    no_rehash: Annotated[bool, typer.Option(
        "--no-rehash", help="Do not re-hash stored originals (log and tables only).")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Re-check everything: the hash chain, the tables against the log, the stored originals."""
    from provenance.errors import UsageProblem
    from provenance.ledger.verify import Plan
    from provenance.ledger.verify import verify as run

    days = None
    if rehash_older_than is not None:
        from provenance.ledger.fixity import parse_age

        if no_rehash:
            raise UsageProblem("--no-rehash and --rehash-older-than contradict: give one")
        days = parse_age(rehash_older_than)
    mode = "none" if no_rehash else ("due" if days is not None else "all")
    if full_chain and since is None:
        raise UsageProblem("--full-chain goes with --since CHECKPOINT (a full verify re-hashes"
                           " the whole log anyway)")
    plan = Plan(since=since, full_chain=full_chain, rehash=mode, older_than_days=days,
                by=GLOBALS.investigator)
    conn = GLOBALS.open(write=days is not None)
    result = run(conn, checkpoint_file=checkpoint, public_key=public_key, tsa_cert=tsa_cert,
                 plan=plan)
    if as_json:
        emit_json(result.to_json())
    else:
        for problem in result.problems:
            say(f"PROBLEM: {problem}")
        for warning in result.warnings:
            say(f"warning: {warning}")
        for statement in result.timestamps:
            say(f"time-stamp: {statement}")
        verdict = "OK" if result.ok else "FAILED"
        start = (f" (from checkpoint at event {result.since['events']})"
                 if result.since else "")
        recorded = (f"; recorded as event {result.fixity_event}"
                    if result.fixity_event is not None else "")
        say(
            f"{verdict}: {result.events} events{start}, head {result.head[:16]}…,"
            f" {result.files_checked} originals re-hashed{recorded}"
        )
    if not result.ok:
        raise typer.Exit(1)


@boundary
def checkpoint(
    out: Annotated[Path | None, typer.Option(help="Write here (default: stdout).")] = None,
    key: Annotated[
        Path | None,
        typer.Option(help="Ed25519 private key to sign with (default: $PROV_SIGNING_KEY)."),
    ] = None,
    tsa: Annotated[str | None, typer.Option(
        help="URL of an RFC 3161 time-stamping authority to countersign the head (network).",
    )] = None,
    tsq: Annotated[Path | None, typer.Option(
        help="Offline: write the time-stamp request here; record the reply later with"
             " `prov timestamp import`.")] = None,
    tsa_cert: Annotated[Path | None, typer.Option(
        help="With --tsa: verify the reply at once against these PEM certificates.")] = None,
) -> None:
    """Record the log's head hash and length, to detect later truncation or rewriting."""
    from provenance.ledger import checkpoint as cp

    if out is not None:
        out = check_out(out, "checkpoint.json")
    conn = GLOBALS.open()
    key_file = signing_key(key)
    doc = cp.make(conn, by=GLOBALS.investigator, key_file=key_file)
    if tsq is not None:
        from provenance.ledger import timestamp

        request, _ = timestamp.request(doc["head"])
        tsq.write_bytes(request)
        err(f"time-stamp request for head {doc['head'][:16]}… → {tsq} (send it to a TSA, e.g."
            f" curl -H 'Content-Type: {timestamp.REQUEST_TYPE}' --data-binary @{tsq} URL"
            f" > reply.tsr, then `prov timestamp import reply.tsr`)")
    if tsa is not None:
        from provenance.cli.attest import stamp_checkpoint

        stamp_checkpoint(conn, doc, tsa, tsa_cert)
    import json

    text = json.dumps(doc, indent=2) + "\n"
    if out is None:
        typer.echo(text, nl=False)
    else:
        with writing_to(out):
            out.write_text(text, encoding="utf-8")
        signed = "signed" if "signature" in doc else "unsigned"
        err(f"checkpoint ({signed}): {doc['events']} events, head {doc['head'][:16]}… → {out}")


@boundary
def keygen(
    out: Annotated[Path, typer.Option(help="Where to write the private key (PEM).")],
) -> None:
    """Make an Ed25519 key pair for signing checkpoints; prints the public key."""
    from provenance.ledger import checkpoint as cp

    public = cp.generate_key(out)
    typer.echo(public)
    err(f"private key → {out} (keep it off the evidence machine's shared disks);"
        f" public key → {out}.pub")
