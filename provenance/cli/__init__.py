"""The `prov` command line: parse, call the core, render. No SQL and no hashing here."""

from __future__ import annotations

from typing import Annotated

import typer

from provenance.cli import attest, capture, corrections, integrity, items, labels, matching, ocr
from provenance.cli.analyse import analyse
from provenance.cli.bundle import bundle, import_
from provenance.cli.common import GLOBALS, RootGroup, quick_exit
from provenance.cli.custody import actor_app, custody_app
from provenance.cli.geo import geo_app
from provenance.cli.report import export, serve
from provenance.cli.snapshot import snapshot
from provenance.cli.workflow import flag, incident_app, review, status

app = typer.Typer(
    name="prov",
    cls=RootGroup,
    help="Provenance tracker for media evidence: register files, record custody and"
    " geolocation claims, find re-uploads, and verify that nothing was edited.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


app.add_typer(custody_app, name="custody")
app.add_typer(actor_app, name="actor")
app.add_typer(geo_app, name="geo")
app.command("bundle")(bundle)
app.command("import")(import_)
app.command("serve")(serve)
app.command("export")(export)
app.command("init")(items.init)
app.command("add")(items.add)
app.command("list")(items.list_)
app.command("show")(items.show)
app.command("match")(matching.match)
app.command("dupes")(matching.dupes)
app.command("log")(items.log_)
app.command("verify")(integrity.verify)
app.command("checkpoint")(integrity.checkpoint)
app.command("snapshot")(snapshot)
app.command("keygen")(integrity.keygen)
app.command("demo")(items.demo)
app.command("c2pa")(attest.c2pa)
app.command("ocr")(ocr.ocr_)
app.add_typer(attest.timestamp_app, name="timestamp")
app.command("capture")(capture.capture)
app.command("analyse")(analyse)
app.command("status")(status)
app.command("review")(review)
app.command("flag")(flag)
app.add_typer(incident_app, name="incident")
app.command("retract")(corrections.retract)
app.command("reclassify")(corrections.reclassify)
custody_app.command("correct")(corrections.custody_correct)
geo_app.command("correct")(corrections.geo_correct)
actor_app.command("rename")(corrections.actor_rename)
actor_app.command("merge")(corrections.actor_merge)
actor_app.command("edit")(corrections.actor_edit)
app.command("name")(labels.name)
app.command("note")(labels.note)
app.command("tag")(labels.tag)
app.command("untag")(labels.untag)
app.command("search")(labels.search)
app.command("cases")(labels.cases)
app.command("get")(labels.get)


def _version(value: bool) -> None:
    if value:
        from provenance import __version__

        typer.echo(f"prov {__version__}")
        raise typer.Exit(0)


@app.callback()
def _globals(
    db: Annotated[
        str | None,
        typer.Option("--db", help="Database file (default: $PROV_DB, else ./evidence.db)."),
    ] = None,
    by: Annotated[
        str | None,
        typer.Option(
            "--by",
            "--investigator",
            help="Who records (default: $PROV_INVESTIGATOR, else the OS user).",
        ),
    ] = None,
    version: Annotated[
        bool,
        typer.Option("--version", is_eager=True, callback=_version,
                     help="Print prov's version and exit."),
    ] = False,
) -> None:
    GLOBALS.db = db
    GLOBALS.by = by


def main() -> None:
    try:
        app(prog_name="prov")
    except SystemExit as done:
        if GLOBALS.done_reading and isinstance(done.code, int | None):
            quick_exit(done.code or 0)
        raise


if __name__ == "__main__":  # pragma: no cover
    main()
