"""The `prov` command line: parse, call the core, render. No SQL and no hashing here."""

from __future__ import annotations

import os
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from .cli_bundle import bundle, import_
from .cli_common import GLOBALS, RootGroup, boundary, emit_json, err, quick_exit, short
from .cli_custody import actor_app, custody_app
from .cli_geo import geo_app
from .cli_serve import export, serve

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


class Kind(StrEnum):
    image = "image"
    video = "video"
    scan = "scan"
    document = "document"
    other = "other"


JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document to stdout.")]

app.add_typer(custody_app, name="custody")
app.add_typer(actor_app, name="actor")
app.add_typer(geo_app, name="geo")
app.command("bundle")(bundle)
app.command("import")(import_)
app.command("serve")(serve)
app.command("export")(export)


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
) -> None:
    GLOBALS.db = db
    GLOBALS.by = by


@app.command()
@boundary
def init() -> None:
    """Create an evidence database (and its evidence store) here or at --db."""
    from .store import database_id, resolve_db_path, store_dir

    path = resolve_db_path(GLOBALS.db)
    existed = path.exists()
    conn = GLOBALS.open(create=True)
    store_dir(path).mkdir(exist_ok=True)
    state = "already initialised" if existed else "initialised"
    typer.echo(f"{state}: {path} (database id {database_id(conn)})")


@app.command()
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
    as_json: JsonOpt = False,
) -> None:
    """Register files: each new content becomes an item, each copy a sighting."""
    from . import ingest

    conn = GLOBALS.open()
    sighting = ingest.Sighting(case=case, source_url=source_url, title=title, note=note)
    bar = _Progress()
    results = ingest.add_paths(
        conn,
        paths,
        sighting,
        by=GLOBALS.investigator,
        kind=kind.value if kind else None,
        copy=not no_copy,
        on_total=bar.start,
        progress=bar.step,
    )
    bar.finish()
    for r in results:
        for warning in r.warnings:
            err(f"warning: {r.path}: {warning}")
        if r.status == "error":
            err(f"error: {r.path}: {r.error}")
    if as_json:
        emit_json([r.to_json() for r in results])
    else:
        for r in results:
            if r.status == "error":
                continue
            typer.echo(f"{r.status:<6} {short(r.sha256)}  {r.kind:<8} {r.path}")
            for m in r.matches:
                typer.echo(f"       ↳ {m['verdict']} of {short(m['sha256'])} ({_evidence(m)})")
    if any(r.status == "error" for r in results):
        raise typer.Exit(1)


def _evidence(m: dict[str, Any]) -> str:
    """How a match was made, in a few words: the algorithm, its distance, where."""
    if m["algorithm"] == "orb":
        text = f"{m['distance']:g} keypoints agree on one geometry"
    else:
        text = f"{m['algorithm']} distance {m['distance']:g}"
    # `prov dupes` relations carry their detail inline.
    shares = m.get("detail") or m
    covers = shares.get("covers_seconds")
    if covers:
        # A video against a video: which stretch of the held one the match spans.
        text += f", covering {covers[0]:g}-{covers[1]:g} s of it"
        if "query_share" in shares:
            text += (f" ({shares['query_share']:.0%} of this one's frames,"
                     f" {shares['candidate_share']:.0%} of its)")
    elif m.get("frame_seconds") is not None:
        text += f", at {m['frame_seconds']:g} s"
    if m.get("page") is not None:
        text += f", page {m['page']}"
    return text


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


@app.command("list")
@boundary
def list_(
    case: Annotated[str | None, typer.Option(help="Only items sighted in this case.")] = None,
    kind: Annotated[Kind | None, typer.Option(help="Only items of this kind.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """List the items held, oldest registration first."""
    from . import registry

    conn = GLOBALS.open()
    items = registry.list_items(conn, case=case, kind=kind.value if kind else None)
    if as_json:
        emit_json(items)
        return
    if not items:
        typer.echo("no items" + (f" in case {case!r}" if case else ""))
        return
    for it in items:
        cases = ",".join(it["cases"])
        typer.echo(
            f"{short(it['sha256'])}  {it['kind']:<8} {_size(it['size']):>9}  "
            f"{(it['captured_at'] or '-'):<25} {it['file_name'] or '-'}"
            + (f"  [{cases}]" if cases else "")
        )


def _size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"


@app.command()
@boundary
def show(
    item: Annotated[str, typer.Argument(help="SHA-256 or a unique prefix (6+ hex digits).")],
    as_json: JsonOpt = False,
) -> None:
    """The audit trail of one item: identity, metadata, sightings, custody, claims, relations."""
    from . import registry, report
    from .cli_render import render_show

    conn = GLOBALS.open()
    sha = registry.resolve(conn, item)
    doc = report.item_report(conn, sha)
    if as_json:
        emit_json(doc)
    else:
        typer.echo(render_show(doc))


@app.command("match")
@boundary
def match(
    target: Annotated[str, typer.Argument(metavar="FILE|ITEM",
                                          help="A file, or a held item's SHA-256 prefix.")],
    max_distance: Annotated[
        int | None, typer.Option(help="Only hash matches within this many bits.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Which held items a file (or item) is a re-upload of, or similar to; best first."""
    from . import relations

    conn = GLOBALS.open()
    doc = relations.match(conn, target, max_distance=max_distance)
    # What matching may write (a migration, the hash cache) is committed or renamed into
    # place by now: from here on only stdout is written.
    GLOBALS.done_reading = True
    if as_json:
        emit_json(doc)
        return
    q = doc["query"]
    typer.echo(f"query {q['path'] or q['item']} ({q['kind']}, sha256 {short(q['sha256'])})")
    if not doc["matches"]:
        typer.echo("  no near-duplicates held")
    for m in doc["matches"]:
        typer.echo(f"  {m['verdict']:<10} {short(m['sha256'])}  {m['kind'] or '-':<8}"
                   f" {_evidence(m)}")


@app.command("dupes")
@boundary
def dupes(as_json: JsonOpt = False) -> None:
    """Every near-duplicate family, its earliest known copy first."""
    from . import dupes as core

    conn = GLOBALS.open()
    families = core.families(conn)
    if as_json:
        emit_json(families)
        return
    if not families:
        typer.echo("no near-duplicate families")
    for f in families:
        typer.echo(f"family of {f['size']}, earliest {short(f['earliest'])}"
                   f" ({f['members'][0]['earliest_source']} {f['earliest_at']})")
        for m in f["members"]:
            rel = m["relation_to_earliest"]
            how = f"  {_evidence(rel)}" if rel else "  (earliest)"
            typer.echo(f"  {short(m['sha256'])}  {m['kind']:<8} {m['file_name'] or '-':<30}{how}")


@app.command("log")
@boundary
def log_(
    item: Annotated[str | None, typer.Argument(help="Only events about this item.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """The event log, oldest first, with each event's chain hash."""
    from . import log, registry

    conn = GLOBALS.open()
    sha = registry.resolve(conn, item) if item else None
    events = log.events(conn, sha)
    if as_json:
        emit_json(events)
        return
    for e in events:
        typer.echo(
            f"{e['seq']:>6}  {e['recorded_at']}  {e['recorded_by']:<12} {e['type']:<22}"
            f" {short(e['item']) or '-':<12}  {e['chain_hash'][:16]}"
        )


@app.command()
@boundary
def verify(
    checkpoint: Annotated[
        Path | None, typer.Option(help="A checkpoint file to detect truncation or rewrites.")
    ] = None,
    public_key: Annotated[
        Path | None, typer.Option(help="The Ed25519 public key that signed the checkpoint.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Re-check everything: the hash chain, the tables against the log, the stored originals."""
    from .verify import verify as run

    conn = GLOBALS.open()
    result = run(conn, checkpoint_file=checkpoint, public_key=public_key)
    if as_json:
        emit_json(result.to_json())
    else:
        for problem in result.problems:
            typer.echo(f"PROBLEM: {problem}")
        for warning in result.warnings:
            typer.echo(f"warning: {warning}")
        verdict = "OK" if result.ok else "FAILED"
        typer.echo(
            f"{verdict}: {result.events} events, head {result.head[:16]}…,"
            f" {result.files_checked} originals re-hashed"
        )
    if not result.ok:
        raise typer.Exit(1)


@app.command()
@boundary
def checkpoint(
    out: Annotated[Path | None, typer.Option(help="Write here (default: stdout).")] = None,
    key: Annotated[
        Path | None,
        typer.Option(help="Ed25519 private key to sign with (default: $PROV_SIGNING_KEY)."),
    ] = None,
) -> None:
    """Record the log's head hash and length, to detect later truncation or rewriting."""
    from . import checkpoint as cp

    conn = GLOBALS.open()
    key_file = key or (Path(os.environ["PROV_SIGNING_KEY"]) if os.environ.get("PROV_SIGNING_KEY")
                       else None)
    doc = cp.make(conn, by=GLOBALS.investigator, key_file=key_file)
    import json

    text = json.dumps(doc, indent=2) + "\n"
    if out is None:
        typer.echo(text, nl=False)
    else:
        out.write_text(text, encoding="utf-8")
        signed = "signed" if "signature" in doc else "unsigned"
        err(f"checkpoint ({signed}): {doc['events']} events, head {doc['head'][:16]}… → {out}")


@app.command()
@boundary
def keygen(
    out: Annotated[Path, typer.Option(help="Where to write the private key (PEM).")],
) -> None:
    """Make an Ed25519 key pair for signing checkpoints; prints the public key."""
    from . import checkpoint as cp

    public = cp.generate_key(out)
    typer.echo(public)
    err(f"private key → {out} (keep it off the evidence machine's shared disks);"
        f" public key → {out}.pub")


@app.command()
@boundary
def demo(
    db: Annotated[
        Path | None, typer.Option("--db", help="Where to build the demo (default: ./demo/).")
    ] = None,
) -> None:
    """Build the seed case (North Korean troops in Russia's far east) and show it."""
    from . import demo as demo_mod
    from .cli_render import render_show

    target = db or (Path(GLOBALS.db) if GLOBALS.db else Path("demo") / "evidence.db")
    doc, steps = demo_mod.build(target, by=GLOBALS.investigator)
    for line in steps:
        typer.echo(line)
    typer.echo("")
    typer.echo(render_show(doc))


def main() -> None:
    try:
        app(prog_name="prov")
    except SystemExit as done:
        if GLOBALS.done_reading and isinstance(done.code, int | None):
            quick_exit(done.code or 0)
        raise


if __name__ == "__main__":  # pragma: no cover
    main()
