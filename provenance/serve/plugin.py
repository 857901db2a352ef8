"""prov's Datasette plugin: item pages, previews, item hashes as links, guards around it all."""

from __future__ import annotations

import asyncio
import os
import re
import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime
from html import escape
from pathlib import Path
from typing import Any, TypeVar

from datasette import hookimpl
from datasette.utils.asgi import Response
from markupsafe import Markup

from provenance import __version__
from provenance.errors import ProvError, UsageProblem


def _plain_error_pages() -> None:
    """Datasette prints every error's traceback, with its local variables, through rich
    when rich is installed (Typer installs it). For a URL that no route matches it prints
    outside any exception, that print itself raises, and the request ends in a 500 with a
    traceback instead of a 404. Its error pages are otherwise fine: only the print goes."""
    from datasette import handle_exception

    handle_exception.rich = None


_plain_error_pages()

SHA = re.compile(r"[0-9a-f]{64}")
# Columns (in tables and views) whose 64-hex values are item hashes.
ITEM_COLUMNS = {"sha256", "item", "other", "family", "earliest_copy"}
# Where an item row gets a small preview beside its hash.
THUMB_TABLES = {"items", "item_overview", "item_workflow", "incident_members"}
# Cells holding an incident's name, which link to its page.
INCIDENT_CELLS = {("incidents", "name"), ("incident_members", "incident")}
# A thumbnail's click: fetch the unblurred preview, once.
REVEAL_CLICK = "if(!this.src.endsWith('?reveal=1')){this.src+='?reveal=1'}"
T = TypeVar("T")

# (id of the Datasette instance, database name) -> does it hold a prov schema?
_is_prov: dict[tuple[int, str], bool] = {}


def _database(datasette: Any, route: str) -> Any | None:
    """The database a URL names: its tilde-encoded route, decoded (`my~20case` is the file
    `my case.db`), or None."""
    from datasette.utils import tilde_decode

    try:
        return datasette.get_database(route=tilde_decode(route))
    except KeyError:
        return None


async def _prov_database(datasette: Any, database: str) -> bool:
    key = (id(datasette), database)
    if key not in _is_prov:
        try:
            tables = set(await datasette.get_database(database).table_names())
        except KeyError:
            return False
        _is_prov[key] = {"items", "events", "sightings"} <= tables
    return _is_prov[key]


@hookimpl
def startup(datasette: Any) -> Callable[[], Any]:
    async def inner() -> None:
        escape_file_uris(datasette)
        for name in list(datasette.databases):
            await _prov_database(datasette, name)

    return inner


def escape_file_uris(datasette: Any) -> None:
    """Open every database file by a properly escaped file: URI.

    Datasette (0.65) opens `f"file:{path}?mode=ro"`: in a path holding `#` or `?` SQLite
    reads the rest as a fragment or a query, opens another (empty, possibly new) file, and
    the served database looks empty; a `%` would be decoded. Same modes as Datasette's own.
    """
    for db in list(datasette.databases.values()):
        if db.is_memory or not db.path or getattr(db, "_prov_escaped", False):
            continue

        def connect(write: bool = False, db: Any = db) -> sqlite3.Connection:
            if write:
                query = ""
            elif db.is_mutable:
                query = "?mode=ro" + ("&nolock=1" if db.ds.nolock else "")
            else:
                query = "?immutable=1"
            conn = sqlite3.connect(file_uri(db.path) + query, uri=True,
                                   check_same_thread=False)
            db._all_file_connections.append(conn)
            return conn

        db.connect = connect
        db._prov_escaped = True


def file_uri(path: str | Path) -> str:
    """A file: URI for SQLite with every special character of the path percent-escaped."""
    return Path(os.path.abspath(path)).as_uri()


def item_url(datasette: Any, database: str, sha: str) -> str:
    return f"{datasette.urls.database(database)}/-/item/{sha}"


def thumb_url(datasette: Any, database: str, sha: str) -> str:
    return f"{datasette.urls.database(database)}/-/thumb/{sha}"


@hookimpl
def render_cell(value: Any, column: str, table: str | None, database: str,
                datasette: Any) -> Any:
    if (table, column) in INCIDENT_CELLS and isinstance(value, str) and value:
        return _incident_link(value, database, datasette)
    if column not in ITEM_COLUMNS or not isinstance(value, str) or not SHA.fullmatch(value):
        return None

    async def inner() -> Markup | None:
        if not await _prov_database(datasette, database):
            return None
        link = (f'<a href="{escape(item_url(datasette, database, value))}" title="audit trail">'
                f'<code>{value[:12]}</code>…</a>')
        if table in THUMB_TABLES and column in {"sha256", "item"}:
            # An item flagged graphic is served blurred; a click fetches the real preview.
            link = (f'<img src="{escape(thumb_url(datasette, database, value))}" alt=""'
                    ' loading="lazy" style="max-width:64px;max-height:48px;vertical-align:middle;'
                    f'margin-right:.4em" title="click to show, if blurred as sensitive"'
                    f' onclick="{REVEAL_CLICK}"> {link}')
        return Markup(link)

    return inner


def _incident_link(name: str, database: str, datasette: Any) -> Any:
    async def inner() -> Markup | None:
        if not await _prov_database(datasette, database):
            return None
        return Markup(f'<a href="{escape(incident_url(datasette, database, name))}"'
                      f' title="incident page">{escape(name)}</a>')

    return inner


@hookimpl
def asgi_wrapper(datasette: Any) -> Callable[[Any], Any]:
    """Around every request: file URIs escaped, writes to a prov database refused with 405
    (Datasette would answer a POST to a canned query with a 500), CSV cells defused."""
    from provenance.serve.guard import READ_METHODS, CsvDefuser, wants_csv

    def wrap(app: Any) -> Any:
        async def guarded(scope: dict[str, Any], receive: Any, send: Any) -> None:
            if scope.get("type") != "http":
                await app(scope, receive, send)
                return
            escape_file_uris(datasette)
            if scope.get("method", "GET") not in READ_METHODS:
                first = scope.get("path", "/").lstrip("/").split("/")[0].split(".")[0]
                db = _database(datasette, first) if first else None
                if db is not None and await _prov_database(datasette, db.name):
                    refusal = _error(405, f"{scope['method']} is not allowed: prov serves"
                                          " the evidence read-only")
                    refusal.headers["allow"] = "GET, HEAD"
                    await refusal.asgi_send(send)
                    return
            await app(scope, receive, CsvDefuser(send) if wants_csv(scope) else send)

        return guarded

    return wrap


@hookimpl
def register_routes() -> list[tuple[str, Any]]:
    return [
        (r"^/(?P<database>[^/]+)/-/item/(?P<ref>[^/]+)$", item_page),
        (r"^/(?P<database>[^/]+)/-/thumb/(?P<sha>[0-9a-f]{64})$", thumbnail),
        (r"^/(?P<database>[^/]+)/-/incident/(?P<name>[^/]+)$", incident_page),
    ]


async def _in_thread(datasette: Any, database: str, fn: Callable[[sqlite3.Connection], T]) -> T:
    """Run `fn` on a private read-only connection (prov's code wants sqlite3.Row rows)."""
    db = datasette.get_database(database)
    path, mutable = Path(db.path), bool(db.is_mutable)

    def work() -> T:
        mode = "mode=ro" if mutable else "immutable=1"
        conn = sqlite3.connect(f"{file_uri(path)}?{mode}", uri=True)
        conn.row_factory = sqlite3.Row
        try:
            return fn(conn)
        finally:
            conn.close()

    return await asyncio.get_running_loop().run_in_executor(None, work)


async def item_page(datasette: Any, request: Any) -> Response:
    from provenance.case import items as registry
    from provenance.ledger.db import database_id
    from provenance.report import item as report
    from provenance.report.html import render_html

    db, ref = _database(datasette, request.url_vars["database"]), request.url_vars["ref"]
    if db is None or not await _prov_database(datasette, db.name):
        return _error(404, f"no prov database at {request.url_vars['database']!r}")
    database = db.name

    def build(conn: sqlite3.Connection) -> tuple[str, dict[str, Any], str]:
        sha = registry.resolve(conn, ref)
        return sha, report.item_report(conn, sha), database_id(conn)

    try:
        sha, rep, db_id = await _in_thread(datasette, database, build)
    except UsageProblem as exc:  # unknown, ambiguous or malformed reference
        return _error(404 if "no item" in str(exc) else 400, str(exc))
    except ProvError as exc:
        return _error(500, str(exc))
    doc = {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "generated_by": "prov serve",
        "prov_version": __version__,
        "database": {"file": Path(datasette.get_database(database).path).name,
                     "database_id": db_id},
        "scope": {"item": sha},
        "verify": None,
        "items": [rep],
    }
    base = datasette.urls.database(database)
    nav = (f'<nav class="prov"><a href="{escape(datasette.urls.instance())}">home</a> ›'
           f' <a href="{escape(base)}">{escape(database)}</a> ›'
           f' <a href="{escape(base)}/items/{sha}">items row</a> ·'
           f' <a href="{escape(base)}/custody_timeline?item={sha}">custody</a> ·'
           f' <a href="{escape(base)}/claim_checks?item={sha}">claims</a> ·'
           f' <a href="{escape(base)}/events?item={sha}">events</a></nav>')
    html = render_html(
        doc,
        thumb_src=lambda s: thumb_url(datasette, database, s),
        item_href=lambda s: item_url(datasette, database, s),
        nav=nav,
        reveal_src=lambda s: thumb_url(datasette, database, s) + "?reveal=1",
    )
    return Response.html(html)


async def thumbnail(datasette: Any, request: Any) -> Response:
    from provenance.report.sensitive import preview
    from provenance.report.thumbnail import Thumbnail

    db, sha = _database(datasette, request.url_vars["database"]), request.url_vars["sha"]
    if db is None or not await _prov_database(datasette, db.name):
        return _error(404, f"no prov database at {request.url_vars['database']!r}")

    def make(conn: sqlite3.Connection) -> Thumbnail | None:
        known = conn.execute("SELECT 1 FROM items WHERE sha256 = ?", (sha,)).fetchone()
        return preview(conn, sha, reveal=reveal) if known else None

    reveal = request.args.get("reveal") == "1"
    thumb = await _in_thread(datasette, db.name, make)
    if thumb is None:
        return _error(404, f"no item {sha} in this database")
    # Never cached without asking again: an item flagged graphic after its preview was
    # fetched must be shown blurred from then on, and a placeholder may become a picture.
    return Response(thumb.data, content_type=thumb.mime, headers={"cache-control": "no-cache"})


def incident_url(datasette: Any, database: str, name: str) -> str:
    from urllib.parse import quote

    return f"{datasette.urls.database(database)}/-/incident/{quote(name, safe='')}"


async def incident_page(datasette: Any, request: Any) -> Response:
    from urllib.parse import unquote

    from provenance.case import incidents
    from provenance.report.html import CSS
    from provenance.report.workflow import incident_page as render

    db = _database(datasette, request.url_vars["database"])
    if db is None or not await _prov_database(datasette, db.name):
        return _error(404, f"no prov database at {request.url_vars['database']!r}")
    database = db.name
    name = unquote(request.url_vars["name"])
    try:
        doc = await _in_thread(datasette, database, lambda c: incidents.describe(c, name))
    except UsageProblem as exc:
        return _error(404, str(exc))
    base = datasette.urls.database(database)
    nav = (f'<nav class="prov"><a href="{escape(datasette.urls.instance())}">home</a> ›'
           f' <a href="{escape(base)}">{escape(database)}</a> ›'
           f' <a href="{escape(base)}/incidents">incidents</a> ·'
           f' <a href="{escape(base)}/incident_members?incident={escape(doc["name"])}">members'
           "</a></nav>")
    return Response.html(render(
        doc, thumb_src=lambda s: thumb_url(datasette, database, s),
        item_href=lambda s: item_url(datasette, database, s),
        incident_href=lambda n: incident_url(datasette, database, n), nav=nav, css=CSS))


def _error(status: int, message: str) -> Response:
    return Response.html(
        f"<!DOCTYPE html><title>prov: {status}</title><h1>{status}</h1><p>{escape(message)}</p>",
        status=status,
    )
