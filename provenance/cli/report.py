"""`prov serve` and `prov export`: Datasette on the database, and reports to hand over."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from provenance.cli.common import GLOBALS, boundary, err
from provenance.cli.outfile import check_out, writing_to


class ExportFormat(StrEnum):
    json = "json"
    md = "md"
    html = "html"
    geojson = "geojson"
    kml = "kml"
    csv = "csv"
    timeline = "timeline"


@boundary
def serve(
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8001,
    host: Annotated[
        str, typer.Option(help="Interface to bind; anything but localhost exposes the evidence.")
    ] = "127.0.0.1",
) -> None:
    """Browse the database in Datasette, read-only, on http://127.0.0.1:PORT/."""
    from provenance.ledger.db import db_path_of
    from provenance.serve.app import run

    conn = GLOBALS.open()  # migrates, so the views and search tables exist
    path = db_path_of(conn)
    conn.close()
    if host not in ("127.0.0.1", "localhost", "::1"):
        err(f"warning: binding {host}: anyone who can reach it can read the evidence")
    err(f"serving {path} read-only on http://{host}:{port}/ (Ctrl-C to stop)")
    run(path, host=host, port=port)


@boundary
def export(
    item: Annotated[
        str | None, typer.Argument(help="SHA-256 or a unique prefix (6+ hex digits).")
    ] = None,
    case: Annotated[str | None, typer.Option(help="Export every item of this case.")] = None,
    incident: Annotated[str | None, typer.Option(
        help="Export the incident and every item linked to it.")] = None,
    fmt: Annotated[
        ExportFormat, typer.Option("--format", help="json, md (Markdown), html; geojson, kml,"
                                   " csv (located points: claims, file GPS, incidents);"
                                   " timeline (CSV of dated events, each an interval).")
    ] = ExportFormat.html,
    out: Annotated[Path | None, typer.Option(help="Write here (default: stdout).")] = None,
    show_sensitive: Annotated[bool, typer.Option(
        "--show-sensitive", help="Embed the unblurred preview of items flagged graphic.")
    ] = False,
) -> None:
    """A report to attach to a publication or filing, with the verify result at export time."""
    from provenance.report import export as core

    if out is not None:
        out = check_out(out, f"report.{fmt.value}")
    conn = GLOBALS.open(write=False)
    doc = core.build(conn, item=item, case=case, incident=incident, by=GLOBALS.investigator)
    text = core.render(conn, doc, fmt.value, show_sensitive=show_sensitive)
    if out is None:
        typer.echo(text, nl=False)
    else:
        with writing_to(out):
            out.write_text(text, encoding="utf-8")
        err(f"exported {len(doc['items'])} item(s) as {fmt.value} → {out}")
    if not doc["verify"]["ok"]:
        err("warning: prov verify FAILED at export time; the report says so")
        raise typer.Exit(1)
