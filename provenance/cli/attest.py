"""`prov c2pa` and `prov timestamp import`: outside attestations of items and of the log."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Annotated, Any

import typer

from provenance.cli.common import GLOBALS, ItemArg, JsonOpt, boundary, emit_json, err, short

timestamp_app = typer.Typer(
    help="RFC 3161 time-stamps of the log's head, recorded from an authority's reply.",
    no_args_is_help=True,
)

TrustOpt = Annotated[Path | None, typer.Option(
    "--c2pa-trust", help="PEM trust anchors for C2PA credentials (default: $PROV_C2PA_TRUST).")]


@boundary
def c2pa(
    item: ItemArg,
    record: Annotated[bool, typer.Option(
        "--record", help="Record this reading as an event: it becomes the item's credential.",
    )] = False,
    c2pa_trust: TrustOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Read an item's C2PA content credential from its original and print the full report."""
    from provenance.case.items import resolve
    from provenance.ingest import credentials
    from provenance.media import c2pa as reader

    conn = GLOBALS.open()
    sha = resolve(conn, item)
    found = credentials.read_item(conn, sha, reader.load_trust(c2pa_trust))
    if record:
        credentials.record(conn, found, by=GLOBALS.investigator)
    if as_json:
        emit_json(found.to_json())
    else:
        typer.echo(_render(found.to_json()))
    if record:
        err(f"recorded: the credential of {short(sha)} is now this reading (event c2pa.read)")


def _render(doc: dict[str, Any]) -> str:
    s = doc["credential"]
    out = [f"item {doc['sha256']}", f"  credential  {doc['statement']}"]
    for key, label in (("state", "state"), ("manifest", "active manifest"),
                       ("title", "title"), ("claim_generator", "made with"),
                       ("signer", "signer"), ("issuer", "issued by"), ("signed_at", "signed at"),
                       ("algorithm", "algorithm"), ("ai_declaration", "declaration"),
                       ("reader", "read with")):
        if s.get(key) not in (None, ""):
            out.append(f"  {label:<16}{s[key]}")
    if s.get("trust_list"):
        t = s["trust_list"]
        out.append(f"  {'trust list':<16}{t['file']} ({t['anchors']} anchors,"
                   f" sha256 {t['sha256'][:16]}…)")
    for a in s.get("actions") or []:
        extra = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in a.items() if k != "action")
        out.append(f"  action          {a.get('action')}" + (f" ({extra})" if extra else ""))
    for i in s.get("ingredients") or []:
        held = f" = held item {short(i['held_item'])}" if i.get("held_item") else ""
        out.append(f"  ingredient      {i.get('title')} ({i.get('relationship')},"
                   f" {i.get('format')}){held}")
    status = doc["manifest_store"].get("validation_status") or []
    out.append(f"  failures        {len(status)}")
    for f in status:
        out.append(f"    {f.get('code')}: {f.get('explanation')}  [{f.get('url')}]")
    out.append("")
    out.append("manifest store (as read):")
    out.append(json.dumps(doc["manifest_store"].get("manifests") or {}, indent=2,
                          ensure_ascii=False))
    return "\n".join(out)


def stamp_checkpoint(conn: sqlite3.Connection, doc: dict[str, Any], url: str,
                     tsa_cert: Path | None) -> None:
    """`prov checkpoint --tsa URL`: ask, optionally verify, record, attach to `doc`."""
    from provenance.ledger import timestamp

    stamp = timestamp.stamp_head(url, doc["head"])
    if tsa_cert is not None:
        timestamp.verify(stamp.response, doc["head"], tsa_cert, f"reply from {url}")
    timestamp.attach(conn, doc, stamp, tsa=url, by=GLOBALS.investigator)
    err(f"time-stamped: {stamp.sentence()}"
        + ("" if tsa_cert else " (not yet verified: `prov verify --tsa-cert CHAIN.pem`)"))


@timestamp_app.command("import")
@boundary
def import_reply(
    reply: Annotated[Path, typer.Argument(help="The authority's reply (.tsr, DER).")],
    checkpoint: Annotated[Path | None, typer.Option(
        help="The checkpoint file the request was made for: the token is added to it.",
    )] = None,
    tsa_cert: Annotated[Path | None, typer.Option(
        help="Verify the reply against these PEM certificates before recording it.")] = None,
    tsa: Annotated[str | None, typer.Option(help="Where the reply came from (a URL or name).")
                   ] = None,
) -> None:
    """Record a time-stamp reply obtained offline (`prov checkpoint --tsq FILE`)."""
    from provenance.errors import BadInput
    from provenance.ledger import timestamp

    try:
        data = reply.read_bytes()
    except OSError as exc:
        raise BadInput(str(reply), f"cannot read the reply ({exc.strerror})") from None
    stamp = timestamp.parse(data, str(reply))
    if tsa_cert is not None:
        timestamp.verify(data, stamp.head, tsa_cert, str(reply))
    conn = GLOBALS.open()
    if checkpoint is None:
        events = timestamp.record(conn, stamp, tsa=tsa or str(reply), by=GLOBALS.investigator)
    else:
        try:
            doc = json.loads(checkpoint.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise BadInput(str(checkpoint), f"not a prov checkpoint ({exc})") from None
        timestamp.attach(conn, doc, stamp, tsa=tsa or str(reply), by=GLOBALS.investigator)
        checkpoint.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
        events = doc["timestamp"]["events"]
    typer.echo(f"recorded: {stamp.sentence()} (event {events}'s head)"
               + (f"; added to {checkpoint}" if checkpoint else ""))
