"""The database: locating, opening, migrating, and write transactions."""

from __future__ import annotations

import itertools
import json
import os
import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

from provenance.errors import NotFound, ProvError, UsageProblem

DEFAULT_DB = "evidence.db"
BUSY_TIMEOUT_MS = 60_000


def schema_sql() -> str:
    """The text of schema.sql: packaged in a wheel, at the repository root in a checkout."""
    packaged = resources.files("provenance").joinpath("schema.sql")
    if packaged.is_file():
        return packaged.read_text(encoding="utf-8")
    return (Path(__file__).resolve().parents[2] / "schema.sql").read_text(encoding="utf-8")


def migrations() -> list[tuple[str, str]]:
    """Named migrations, applied in order, each recorded in _migrations.

    schema.sql is the first (0001_schema); every later change is a new file in
    ledger/migrations/ named NNNN_what.sql, never edited once released: 0002_fts
    (full-text search), 0003_views (investigators' questions as views),
    0004_item_key_index (hash rows name their item by its registering event, and
    looking one up among a million items must not scan them all).
    """
    folder = resources.files("provenance.ledger").joinpath("migrations")
    later = sorted((entry.name, entry) for entry in folder.iterdir()
                   if entry.name.endswith(".sql"))
    return [("0001_schema", schema_sql())] + [
        (name.removesuffix(".sql"), entry.read_text(encoding="utf-8")) for name, entry in later
    ]


def resolve_db_path(db: str | os.PathLike[str] | None) -> Path:
    """--db, else $PROV_DB, else ./evidence.db."""
    if db:
        return Path(db)
    env = os.environ.get("PROV_DB")
    if env:
        return Path(env)
    return Path(DEFAULT_DB)


def store_dir(db_path: Path) -> Path:
    """The content-addressed evidence store that sits beside a database."""
    return db_path.with_name(db_path.stem + ".store")


def now_utc() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def connect(path: Path | str, *, uri: bool = False) -> sqlite3.Connection:
    """A connection in autocommit mode: transactions are explicit (see `transaction`)."""
    conn = sqlite3.connect(
        str(path), timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, uri=uri
    )
    conn.row_factory = sqlite3.Row
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA foreign_keys = ON")
    return conn


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """BEGIN IMMEDIATE: take the write lock up front so concurrent writers queue."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        # After some errors (a full disk, an I/O error) SQLite has already rolled back; a
        # second ROLLBACK would raise and hide the error that matters.
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    else:
        conn.execute("COMMIT")


@contextmanager
def unit(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """A transaction, or, inside one already open, a savepoint of it: the caller's writes
    then commit with the enclosing transaction or not at all (a capture's items and its
    collection record are one unit)."""
    if not conn.in_transaction:
        with transaction(conn):
            yield conn
        return
    name = f"unit_{next(_SAVEPOINTS)}"
    conn.execute(f"SAVEPOINT {name}")
    try:
        yield conn
    except BaseException:
        if conn.in_transaction:
            conn.execute(f"ROLLBACK TO {name}")
            conn.execute(f"RELEASE {name}")
        raise
    else:
        conn.execute(f"RELEASE {name}")


_SAVEPOINTS = itertools.count(1)


def migrate(conn: sqlite3.Connection) -> list[str]:
    """Apply every migration not yet recorded; return the names applied."""
    applied: list[str] = []
    with transaction(conn):
        conn.execute(
            "CREATE TABLE IF NOT EXISTS _migrations"
            " (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)"
        )
        done = {row[0] for row in conn.execute("SELECT name FROM _migrations")}
        for name, sql in migrations():
            if name in done:
                continue
            for statement in split_sql(sql):
                conn.execute(statement)
            conn.execute("INSERT INTO _migrations VALUES (?, ?)", (name, now_utc()))
            applied.append(name)
        if conn.execute("SELECT 1 FROM meta WHERE key = 'database_id'").fetchone() is None:
            conn.execute("INSERT INTO meta VALUES ('database_id', ?)", (uuid.uuid4().hex,))
            conn.execute("INSERT INTO meta VALUES ('created_at', ?)", (now_utc(),))
    return applied


def split_sql(sql: str) -> list[str]:
    """Split a script into statements, keeping trigger bodies whole."""
    statements: list[str] = []
    buffer = ""
    for line in sql.splitlines(keepends=True):
        if not buffer and (not line.strip() or line.lstrip().startswith("--")):
            continue
        buffer += line
        if sqlite3.complete_statement(buffer):
            statements.append(buffer.strip())
            buffer = ""
    if buffer.strip():
        statements.append(buffer.strip())
    return statements


def open_db(
    db: str | os.PathLike[str] | None = None, *, create: bool = False, write: bool = True
) -> sqlite3.Connection:
    """Open the database; refuse a missing one unless asked to create it.

    A command that writes gets a connection in WAL mode on a migrated database. A command
    that only reads (`write=False`) gets a read-only connection and changes nothing, not even
    the journal mode, when the database is already migrated: evidence on a write-blocked
    drive, or a `VACUUM INTO` snapshot, must be readable as it is.
    """
    path = resolve_db_path(db)
    if not path.exists():
        if not create:
            raise NotFound(f"no database at {path}: run `prov init` there, or pass --db PATH")
        path.parent.mkdir(parents=True, exist_ok=True)
    if not write:
        reading = _open_reading(path)
        if reading is not None:
            return reading
    if path.exists():
        _refuse_snapshot(path)
    if path.exists() and not (os.access(path, os.W_OK) and os.access(path.parent, os.W_OK)):
        # SQLite would quietly open it read-only and fail at the first write, mid-command.
        raise ProvError(
            f"{path}: read-only: this command must write to the database; copy the database"
            " and its .store folder to writable storage")
    try:
        conn = connect(path)
        if str(conn.execute("PRAGMA journal_mode").fetchone()[0]).lower() != "wal":
            conn.execute("PRAGMA journal_mode = WAL")
        migrate(conn)
    except sqlite3.DatabaseError as exc:
        if _is_read_only(exc):
            raise ProvError(
                f"{path}: read-only: this command must write to the database ({exc});"
                " copy the database and its .store folder to writable storage"
            ) from None
        raise ProvError(f"{path}: not a prov database ({exc})") from None
    return conn


# The `meta` key a read-only snapshot carries (ledger/snapshot.py).
SNAPSHOT_MARKER = "snapshot_of"


def snapshot_marker(conn: sqlite3.Connection) -> dict[str, Any] | None:
    """The record a read-only snapshot carries in `meta` (who took it, when, of what), or
    None when this database is not a snapshot (or has no `meta` table yet)."""
    try:
        row = conn.execute("SELECT value FROM meta WHERE key = ?",
                           (SNAPSHOT_MARKER,)).fetchone()
    except sqlite3.DatabaseError:
        return None
    if row is None:
        return None
    try:
        doc = json.loads(row[0])
    except ValueError:
        doc = None
    return doc if isinstance(doc, dict) else {}


def _refuse_snapshot(path: Path) -> None:
    """A snapshot is never written to: its log would fork from the one it copies."""
    try:
        conn = connect(path.absolute().as_uri() + "?mode=ro", uri=True)
    except sqlite3.DatabaseError:
        return  # not readable as SQLite: the write path says why
    try:
        doc = snapshot_marker(conn)
    finally:
        conn.close()
    if doc is None:
        return
    raise UsageProblem(
        f"{path} is a read-only snapshot (taken {doc.get('taken_at', '?')} by"
        f" {doc.get('taken_by', '?')}, {doc.get('events', '?')} events): record in the database"
        " it was taken from, then take a new snapshot")


def _is_read_only(exc: sqlite3.DatabaseError) -> bool:
    text = str(exc).lower()
    return "readonly" in text or "read-only" in text or "unable to open" in text


def _read_migrations(uri: str) -> tuple[sqlite3.Connection, set[str]]:
    conn = connect(uri, uri=True)
    try:
        return conn, {str(r[0]) for r in conn.execute("SELECT name FROM _migrations")}
    except sqlite3.DatabaseError:
        conn.close()
        raise


def _open_reading(path: Path) -> sqlite3.Connection | None:
    """A read-only connection to a migrated database, or None when it needs migrating first.

    `mode=ro` reads a WAL database while others write it (it shares their -shm index). Where
    that index cannot be created (a write-blocked drive) the file cannot change under us, so
    it is opened `immutable`; not if a write-ahead log is left beside it, whose committed
    transactions an immutable reader would silently skip.
    """
    uri = path.absolute().as_uri()
    try:
        try:
            conn, names = _read_migrations(uri + "?mode=ro")
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):
                return None
            wal = Path(str(path) + "-wal")
            if wal.exists() and wal.stat().st_size > 0:
                raise ProvError(
                    f"{path}: read-only, and its write-ahead log ({wal.name}) cannot be read"
                    " without write access: copy the database with its -wal and -shm files to"
                    " writable storage"
                ) from None
            conn, names = _read_migrations(uri + "?mode=ro&immutable=1")
        has_id = conn.execute("SELECT 1 FROM meta WHERE key = 'database_id'").fetchone()
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):
            return None
        raise ProvError(f"{path}: cannot be read ({exc})") from None
    except sqlite3.DatabaseError as exc:
        raise ProvError(f"{path}: not a prov database ({exc})") from None
    if has_id is None or not {name for name, _ in migrations()} <= names:
        conn.close()
        return None
    return conn


def db_path_of(conn: sqlite3.Connection) -> Path:
    row = conn.execute("PRAGMA database_list").fetchone()
    return Path(row["file"])


def database_id(conn: sqlite3.Connection) -> str:
    row = conn.execute("SELECT value FROM meta WHERE key = 'database_id'").fetchone()
    if row is None:
        raise ProvError("database has no identity (meta.database_id missing)")
    return str(row[0])
