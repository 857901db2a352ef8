"""The `prov` command line: parse, call the core, render. No SQL and no hashing here."""

from __future__ import annotations

import os
from typing import Annotated, Any

import typer

from provenance.cli.common import GLOBALS, quick_exit
from provenance.cli.group import AddCommand, RootGroup

# numpy's OpenBLAS starts a thread per core when numpy is imported, and they spin waiting
# for work: ~40 ms of CPU of every command that loads numpy (`prov match`, `prov add`), for
# matrix products of a few thousand numbers (a picture's DCT and luma), which OpenBLAS does
# on one thread at that size anyway. Set before anything imports numpy (nothing above
# does; tests/test_cli.py checks); the user's own setting wins.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

# Each command's module is imported, and the command built, only when it runs or help lists
# it (cli/group.py). In help order: commands first, then the sub-apps, as Typer lists them.
COMMANDS: dict[str, tuple[str, str]] = {
    "bundle": ("bundle", "bundle"),
    "import": ("bundle", "import_"),
    "serve": ("report", "serve"),
    "export": ("report", "export"),
    "init": ("items", "init"),
    "add": ("items", "add"),
    "list": ("items", "list_"),
    "show": ("items", "show"),
    "match": ("matching", "match"),
    "dupes": ("matching", "dupes"),
    "log": ("items", "log_"),
    "verify": ("integrity", "verify"),
    "checkpoint": ("integrity", "checkpoint"),
    "snapshot": ("snapshot", "snapshot"),
    "keygen": ("integrity", "keygen"),
    "demo": ("items", "demo"),
    "c2pa": ("attest", "c2pa"),
    "ocr": ("ocr", "ocr_"),
    "capture": ("capture", "capture"),
    "analyse": ("analyse", "analyse"),
    "status": ("workflow", "status"),
    "review": ("workflow", "review"),
    "flag": ("workflow", "flag"),
    "retract": ("corrections", "retract"),
    "reclassify": ("corrections", "reclassify"),
    "name": ("labels", "name"),
    "note": ("labels", "note"),
    "tag": ("labels", "tag"),
    "untag": ("labels", "untag"),
    "search": ("labels", "search"),
    "cases": ("labels", "cases"),
    "get": ("labels", "get"),
}
# Sub-apps: (module, its Typer app, commands other modules add to it as (name, module, function)).
GROUPS: dict[str, tuple[str, str, tuple[tuple[str, str, str], ...]]] = {
    "custody": ("custody", "custody_app", (("correct", "corrections", "custody_correct"),)),
    "actor": ("custody", "actor_app", (("rename", "corrections", "actor_rename"),
                                       ("merge", "corrections", "actor_merge"),
                                       ("edit", "corrections", "actor_edit"))),
    "geo": ("geo", "geo_app", (("correct", "corrections", "geo_correct"),)),
    "timestamp": ("attest", "timestamp_app", ()),
    "incident": ("workflow", "incident_app", ()),
}


def _module(name: str) -> Any:
    """Command module `name`, imported when one of its commands is first built. Each import
    is written out (not made from the name) so the import linter and the architecture tests
    see it."""
    if name == "analyse":
        from provenance.cli import analyse

        return analyse
    if name == "attest":
        from provenance.cli import attest

        return attest
    if name == "bundle":
        from provenance.cli import bundle

        return bundle
    if name == "capture":
        from provenance.cli import capture

        return capture
    if name == "corrections":
        from provenance.cli import corrections

        return corrections
    if name == "custody":
        from provenance.cli import custody

        return custody
    if name == "geo":
        from provenance.cli import geo

        return geo
    if name == "integrity":
        from provenance.cli import integrity

        return integrity
    if name == "items":
        from provenance.cli import items

        return items
    if name == "labels":
        from provenance.cli import labels

        return labels
    if name == "matching":
        from provenance.cli import matching

        return matching
    if name == "ocr":
        from provenance.cli import ocr

        return ocr
    if name == "report":
        from provenance.cli import report

        return report
    if name == "snapshot":
        from provenance.cli import snapshot

        return snapshot
    if name == "workflow":
        from provenance.cli import workflow

        return workflow
    raise KeyError(name)


def _function(module: str, name: str) -> Any:
    return getattr(_module(module), name)


def _command(name: str, module: str, function: str) -> AddCommand:
    def add(app: typer.Typer) -> None:
        app.command(name)(_function(module, function))

    return add


def _group(name: str, module: str, attribute: str,
           extra: tuple[tuple[str, str, str], ...]) -> AddCommand:
    def add(app: typer.Typer) -> None:
        sub: typer.Typer = _function(module, attribute)
        have = {c.name for c in sub.registered_commands}
        for command, in_module, function in extra:  # once per process, however often built
            if command not in have:
                sub.command(command)(_function(in_module, function))
        app.add_typer(sub, name=name)

    return add


SETTINGS = {"add_completion": False, "pretty_exceptions_enable": False,
            "rich_markup_mode": None}
RootGroup.lazy = {**{name: _command(name, *where) for name, where in COMMANDS.items()},
                  **{name: _group(name, *where) for name, where in GROUPS.items()}}
RootGroup.settings = SETTINGS

app = typer.Typer(
    name="prov",
    cls=RootGroup,
    help="Provenance tracker for media evidence: register files, record custody and"
    " geolocation claims, find re-uploads, and verify that nothing was edited.",
    no_args_is_help=True,
    **SETTINGS,  # type: ignore[arg-type]
)


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
