"""`prov init`, `add`, `list`, `show`, `log` and `demo`: the items held and their trail."""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from provenance.cli.common import (
    GLOBALS,
    ItemArg,
    JsonOpt,
    boundary,
    emit_json,
    err,
    evidence_line,
    say,
    short,
)
from provenance.cli.ocr import MAX_PIXELS, MaxPixelsOpt, OcrBudgetOpt, OcrPagesOpt, OcrTimeoutOpt
from provenance.cli.ocr import plan as ocr_plan
from provenance.errors import UsageProblem


class Kind(StrEnum):
    image = "image"
    video = "video"
    audio = "audio"
    scan = "scan"
    document = "document"
    other = "other"


class ItemKind(StrEnum):
    """The kinds a filter can name: every kind an item can be (`archive` is set by capture and
    by `add` for WACZ/WARC files; `--kind` on `add` overrides sniffing, so it stays `Kind`)."""

    image = "image"
    video = "video"
    audio = "audio"
    scan = "scan"
    document = "document"
    other = "other"
    archive = "archive"


@boundary
def init() -> None:
    """Create an evidence database (and its evidence store) here or at --db."""
    from provenance.ledger.db import database_id, resolve_db_path, store_dir

    path = resolve_db_path(GLOBALS.db)
    existed = path.exists()
    conn = GLOBALS.open(create=True)
    store_dir(path).mkdir(exist_ok=True)
    state = "already initialised" if existed else "initialised"
    say(f"{state}: {path} (database id {database_id(conn)})")


@boundary
def add(
    paths: Annotated[list[str], typer.Argument(help="Files and folders (searched recursively).")],
    case: Annotated[str | None, typer.Option(help="Case (investigation) name.")] = None,
    kind: Annotated[Kind | None, typer.Option(help="Override the kind sniffed from bytes.")] = None,
    source_url: Annotated[str | None, typer.Option(help="Where this copy was found.")] = None,
    title: Annotated[str | None, typer.Option(help="A title for this copy.")] = None,
    note: Annotated[str | None, typer.Option(help="A note on this copy.")] = None,
    no_copy: Annotated[
        bool, typer.Option("--no-copy", help="Reference the files; don't copy them to the store.")
    ] = False,
    c2pa_trust: Annotated[Path | None, typer.Option(
        "--c2pa-trust", help="PEM trust anchors for C2PA credentials (default: $PROV_C2PA_TRUST).",
    )] = None,
    ocr: Annotated[bool | None, typer.Option(
        "--ocr/--no-ocr", help="--ocr: read the text of every image and every document page"
        " (scans and pages without a text layer are always read); --no-ocr: read none.",
    )] = None,
    ocr_timeout: OcrTimeoutOpt = 60.0,
    ocr_pages: OcrPagesOpt = 50,
    ocr_budget: OcrBudgetOpt = 120.0,
    max_pixels: MaxPixelsOpt = MAX_PIXELS,
    as_json: JsonOpt = False,
) -> None:
    """Register files: each new content becomes an item, each copy a sighting."""
    from provenance.ingest import register as ingest
    from provenance.media import c2pa

    conn = GLOBALS.open()
    sighting = ingest.Sighting(case=case, source_url=source_url, title=title, note=note)
    reading = ocr_plan(bool(ocr), ocr_timeout, ocr_pages, enabled=ocr is not False,
                       budget=ocr_budget, max_pixels=max_pixels)
    bar = _Progress()
    with c2pa.trust_list(c2pa.load_trust(c2pa_trust)):
        results = ingest.add_paths(
            conn, paths, sighting, by=GLOBALS.investigator, kind=kind.value if kind else None,
            copy=not no_copy, on_total=bar.start, progress=bar.step, plan=reading,
        )
    bar.finish()
    for r in results:
        for warning in r.warnings:
            err(f"warning: {r.path}: {warning}")
        if r.status == "error":
            err(f"error: {r.path}: {r.error}")
        elif kind is not None and r.status == "known" and r.kind != kind.value:
            err(f"notice: {r.path}: already held as {r.kind}; --kind {kind.value} does not"
                " change a held item's kind (this copy is recorded as a sighting)")
    if as_json:
        emit_json([r.to_json() for r in results])
    else:
        for r in results:
            if r.status == "error":
                continue
            say(f"{r.status:<6} {short(r.sha256)}  {r.kind:<8} {r.path}")
            for m in r.matches:
                say(f"       ↳ {m['verdict']} of {short(m['sha256'])} ({evidence_line(m)})")
            if r.withdrawn_left_out:
                say(f"       ↳ and {r.withdrawn_left_out} withdrawn item(s) it resembles"
                    " (recorded; `prov show` lists them)")
    if any(r.status == "error" for r in results):
        raise typer.Exit(1)


class _Progress:
    """A progress bar on stderr for batches big enough to need one."""

    THRESHOLD = 20

    def __init__(self) -> None:
        self.bar: Any = None

    def start(self, total: int) -> None:
        if total >= self.THRESHOLD and sys.stderr.isatty():
            import click

            self.bar = click.progressbar(length=total, label="registering", file=sys.stderr)
            self.bar.__enter__()

    def step(self, _result: object) -> None:
        if self.bar is not None:
            self.bar.update(1)

    def finish(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)
            self.bar = None


# `prov list` on a terminal: the first page only (a whole archive is hundreds of thousands).
LIST_PAGE = 100


@boundary
def list_(
    case: Annotated[str | None, typer.Option(help="Only items sighted in this case.")] = None,
    kind: Annotated[ItemKind | None, typer.Option(help="Only items of this kind.")] = None,
    status: Annotated[str | None, typer.Option(
        help="Only items whose review status is now this one (see `prov status`).")] = None,
    tag: Annotated[str | None, typer.Option(help="Only items carrying this tag.")] = None,
    include_withdrawn: Annotated[bool, typer.Option(
        "--include-withdrawn", help="List withdrawn items too (marked).")] = False,
    # A string, parsed here: an int option would import pydantic (Typer's coercion), a
    # tenth of a second of a command meant to answer in 0.3 s.
    limit: Annotated[str | None, typer.Option(
        metavar="N", help=f"Show the first N items (0: all). Default: {LIST_PAGE} on a"
        " terminal, all otherwise and with --json.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """List the items held, oldest registration first (withdrawn ones left out)."""
    from provenance.case import workflow
    from provenance.case.listing import list_page

    if limit is not None and not (limit.isascii() and limit.isdigit()):
        raise UsageProblem(f"--limit {limit!r}: give a whole number of items (0 lists all)")
    count = int(limit) if limit is not None else (
        LIST_PAGE if not as_json and sys.stdout.isatty() else 0)
    conn = GLOBALS.open(write=False)
    items, total = list_page(conn, limit=count or None, case=case,
                             kind=kind.value if kind else None, tag=tag,
                             include_withdrawn=include_withdrawn, status=status)
    if as_json:
        emit_json(items)
        return
    if not items:
        say("no items" + (f" in case {case!r}" if case else "")
            + (f" tagged {tag!r}" if tag else ""))
        return
    for it in items:
        cases = ",".join(it["cases"])
        shown = f"{it['name']} ({it['file_name'] or '-'})" if it["name"] else (
            it["file_name"] or "-")
        say(
            f"{short(it['sha256'])}  {it['kind']:<8} {_size(it['size']):>9}  "
            f"{(it['captured_at'] or '-'):<25} {shown}"
            + (f"  [{cases}]" if cases else "")
            + (f"  ({it['status']})" if it["status"] != workflow.UNSTATUSED else "")
            + (f"  #{' #'.join(it['tags'])}" if it["tags"] else "")
            + ("  WITHDRAWN" if it["withdrawn"] else "")
        )
    if total > len(items):
        # On stderr: a script reading the list gets only items; a reader sees the count.
        err(f"... {total - len(items):,} more ({total:,} in all): --limit 0 lists them all,"
            " --limit N the first N")


def _size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"


@boundary
def show(
    item: ItemArg,
    as_json: JsonOpt = False,
) -> None:
    """The audit trail of one item: identity, metadata, sightings, custody, claims, relations."""
    from provenance.case import items as registry
    from provenance.report import item as report
    from provenance.report.text import render_show

    conn = GLOBALS.open(write=False)
    sha = registry.resolve(conn, item)
    doc = report.item_report(conn, sha)
    if as_json:
        emit_json(doc)
    else:
        typer.echo(render_show(doc))


@boundary
def log_(
    item: Annotated[str | None, typer.Argument(help="Only events about this item.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """The event log, oldest first, with each event's chain hash."""
    from provenance.case import items as registry
    from provenance.ledger import log

    conn = GLOBALS.open(write=False)
    sha = registry.resolve(conn, item) if item else None
    events = log.events(conn, sha)
    if as_json:
        emit_json(events)
        return
    for e in events:
        say(
            f"{e['seq']:>6}  {e['recorded_at']}  {e['recorded_by']:<12} {e['type']:<22}"
            f" {short(e['item']) or '-':<12}  {e['chain_hash'][:16]}"
        )


@boundary
def demo(
    db: Annotated[
        Path | None, typer.Option("--db", help="Where to build the demo (default: ./demo/).")
    ] = None,
) -> None:
    """Build the seed case (North Korean troops in Russia's far east) and show it."""
    from provenance import demo as demo_mod
    from provenance.report.text import render_show

    target = db or (Path(GLOBALS.db) if GLOBALS.db else Path("demo") / "evidence.db")
    doc, steps = demo_mod.build(target, by=GLOBALS.investigator)
    for line in steps:
        say(line)
    say("")
    typer.echo(render_show(doc))
