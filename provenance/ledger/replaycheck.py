"""The full verify's replay and comparison, in bounded memory for a million-item archive.

The log is replayed event by event, as the chain check reads it, into a scratch database on
disk (not a list of every event and an in-memory copy of every table: gigabytes at a million
items), and each table is compared with the live one by walking both in key order.
The problems reported are worded as projection.compare words them.
"""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
import tempfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from provenance.ledger import hashstream, projection
from provenance.ledger.event import Event

# The schema name under which `prov verify` attaches the replay's file to the live database.
ATTACHED = "prov_replay"


# Plain (not UNIQUE) indexes on the tables a registration fills, and on custody, claims
# and near-duplicates (an index by item each: inserting into it at a random place cost
# custody's replay 10 us an event at a million items). The replay never builds them: it is
# compared by primary key, and an index can refuse no row. Safe while no applier looks
# these tables up by such a column (they go by primary key; an actor merge's update by
# actor never had an index); one that did would still be right, only slower. (A table found
# different is walked in key order; the walk of hashes, by item, then sorts without its
# index: only a failing verify pays that.)
_DEFERRED = re.compile(
    r'CREATE\s+INDEX\s+(?:IF\s+NOT\s+EXISTS\s+)?"?(\w+)"?\s+ON\s+'
    r'"?(?:items|hashes|sightings|custody|claims|near_duplicates)"?\s*\(',
    re.IGNORECASE)
_FTS_TABLE = re.compile(
    r'CREATE\s+VIRTUAL\s+TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?"?(\w+)"?\s+USING\s+fts5\b',
    re.IGNORECASE)
_TRIGGER_BODY = re.compile(r"CREATE\s+TRIGGER\b.*?\bBEGIN\b(.*)\bEND\s*;?\s*$",
                           re.IGNORECASE | re.DOTALL)
_INSERT_INTO = re.compile(r'INSERT\s+INTO\s+"?(\w+)"?', re.IGNORECASE)


def _deferred(statements: list[str]) -> list[str]:
    found = []
    for statement in statements:
        match = _DEFERRED.match(statement)
        if match and not any("DROP" in s.upper() and match.group(1) in s for s in statements):
            found.append(statement)
    return found


def _search_only(statements: list[str]) -> list[str]:
    """Triggers whose every statement writes a full-text table (0002's and 0015's, kept in
    step with sightings, custody, claims and page text). Full-text tables are derived data,
    never compared; keeping them in step was a quarter of the replay's time. A trigger with
    any other statement (or one these patterns do not read) is kept."""
    fts = {m.group(1).lower() for s in statements if (m := _FTS_TABLE.match(s))}
    found = []
    for statement in statements:
        body = _TRIGGER_BODY.match(statement)
        if body is None:
            continue
        parts = [p.strip() for p in body.group(1).split(";") if p.strip()]
        if parts and all((m := _INSERT_INTO.match(p)) and m.group(1).lower() in fts
                         for p in parts):
            found.append(statement)
    return found


class Replayer:
    """Applies events to a scratch copy of the schema; remembers the first failure.

    The events are applied as they are handed over, on the caller's thread. (An earlier
    round applied them on a thread of their own, to overlap SQLite's inserts with the chain
    check; on this shared 2-core machine the two threads' contention for Python's global
    lock cost more than the overlap gained: 8.4-11.2 s of CPU and 21-28 s wall against
    6.4 s and 11-13 s inline, at 50,000 items and load 5.)
    """

    def __init__(self, statements: list[str]) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="prov-verify-"))
        self.path = self.folder / "replay.db"
        self.conn = sqlite3.connect(self.path, isolation_level=None,
                                    factory=hashstream.StreamingConnection)
        self.conn.row_factory = sqlite3.Row
        # A scratch file thrown away afterwards: no journal, no syncing.
        self.conn.execute("PRAGMA journal_mode = OFF")
        self.conn.execute("PRAGMA synchronous = OFF")
        self.conn.execute("PRAGMA cache_size = -262144")  # 256 MiB
        left_out = set(_deferred(statements)) | set(_search_only(statements))
        self._schema = [s for s in statements if s not in left_out]
        for statement in self._schema:
            self.conn.execute(statement)
        self.conn.execute("BEGIN")
        self.count = 0
        self.error: str | None = None

    def stream_hashes(self, live: sqlite3.Connection) -> bool:
        """Compare the hash rows with `live`'s as they are produced, instead of inserting
        them (see ledger/hashstream.py). False when the live table cannot be read so."""
        row = self.conn.execute(
            "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'hashes'").fetchone()
        if row is None or row[0] is None:
            return False
        try:
            self.conn.stream = hashstream.HashStream(live, str(row[0]))
        except sqlite3.DatabaseError:
            return False
        return True

    def hashes_matched(self) -> bool | None:
        """With a stream: whether every hash row was the live table's (then the table need
        not be compared again), and every sighting's when the chain worker compared those;
        None without one."""
        stream = self.conn.stream
        return None if stream is None else stream.finish()

    def streamed_tables(self) -> tuple[str, ...]:
        """The tables the stream compared (once matched, not compared again)."""
        return tuple(getattr(self.conn.stream, "tables", ("hashes",)))

    def restart(self) -> None:
        """Start again from an empty schema, inserting hash rows: every object dropped
        (tables, with their indexes and triggers; full-text tables with theirs) and the
        schema created as at first. (Emptying the tables instead would run their triggers,
        some of which refuse deletions.)"""
        if self.conn.stream is not None:
            self.conn.stream.finish()
            self.conn.stream = None
        objects = self.conn.execute(
            "SELECT type, name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'"
            " AND type IN ('view', 'table')").fetchall()
        for kind, name, _sql in sorted(objects, key=lambda o: (
                o[0] != "view", not str(o[2] or "").upper().startswith("CREATE VIRTUAL"))):
            # Views first, then full-text tables (which drop their own shadow tables).
            exists = self.conn.execute("SELECT 1 FROM sqlite_master WHERE name = ?",
                                       (name,)).fetchone()
            if exists:
                self.conn.execute(f'DROP {"VIEW" if kind == "view" else "TABLE"} "{name}"')
        for statement in self._schema:
            self.conn.execute(statement)
        self.count = 0
        self.error = None

    def apply(self, event: Event) -> None:
        """Apply one event; after the first that cannot be replayed, none. What an applier
        raises beyond a replay error (a bug, not the log) goes up as it is."""
        self.count += 1
        if self.error is not None:
            return
        try:
            projection.apply(self.conn, event)
        except (sqlite3.DatabaseError, KeyError, ValueError, TypeError) as exc:
            self.error = f"the log cannot be replayed: {exc}"
        except Exception:
            stream = self.conn.stream
            if stream is None or not stream.doubtful:
                raise
            # Perhaps only because the hash rows were not there to read: the verify replays
            # again with them inserted, and what happens then is what counts.
            self.error = "the replay is run again"

    def apply_log(self, live: sqlite3.Connection, skip: frozenset[str] = frozenset()
                  ) -> Unchecked | None:
        """Apply every event of `live`'s log as read, before its chain is checked (by
        ledger/chainworker.py, on the same snapshot). What the inline check would have
        raised at once is kept with its event's number instead (the caller raises it if the
        chain is sound up to there), and nothing more is applied after it, nor after a
        payload that cannot be read as an event (the chain check then names it).

        Events whose type column is in `skip` are counted, not read: the worker compares
        what they write (ledger/rowstream.py). Going by the column is going by the payload
        once the chain check has found the two agree, and nothing is compared otherwise."""
        cursor = live.cursor()
        cursor.row_factory = None
        apply = self.apply
        # Skipped events' payloads are not read at all: the event is only counted.
        types = sorted(skip)
        marks = ", ".join("?" for _ in types)
        rows = cursor.execute(
            f"SELECT seq, type IN ({marks}), CASE WHEN type IN ({marks}) THEN NULL"
            " ELSE CAST(payload AS BLOB) END FROM events ORDER BY seq", (*types, *types))
        for seq, skipped, payload in rows:
            if skipped:
                self.count += 1
                continue
            try:
                body = event_value(payload)
                event = Event(body["seq"], body["recorded_at"], body["recorded_by"],
                              body["type"], body["item"], body["data"])
            except Exception as exc:  # the chain check says what is wrong with it
                return Unchecked(seq, exc)
            try:
                apply(event)
            except Exception as exc:
                return Unchecked(seq, exc)
        return None

    def finish(self) -> sqlite3.Connection:
        """The replayed tables, once every event handed over is applied."""
        if self.conn.in_transaction:
            self.conn.execute("COMMIT")
        return self.conn

    def close(self) -> None:
        self.conn.close()
        shutil.rmtree(self.folder, ignore_errors=True)


@dataclass(frozen=True)
class Unchecked:
    """Where `Replayer.apply_log` stopped: the event's number and what was raised (reading
    its payload as an event, or an applier beyond a replay error)."""

    seq: int
    error: Exception


def event_value(payload: bytes | str) -> Any:
    """A payload's value as the chain check's canonical reading returns it (canonical.loads:
    orjson's value, or the json module's where orjson cannot read it), without the canonical
    check itself, which the chain check makes. For a text that check accepts the two
    libraries read the same values, of the same types: tests/test_canonical_fast.py."""
    try:
        return orjson.loads(payload)
    except orjson.JSONDecodeError:
        return json.loads(payload)


def _order(value: Any) -> tuple[int, Any]:
    """SQLite's order of values of mixed types: NULL, numbers, text, blobs."""
    if value is None:
        return (0, 0)
    if isinstance(value, (int, float)):
        return (1, value)
    if isinstance(value, str):
        return (2, value)
    return (3, bytes(value))


def _rows(conn: sqlite3.Connection, table: str, columns: list[str], order: str
          ) -> Iterator[tuple[Any, ...]]:
    yield from (tuple(r) for r in conn.execute(
        f"SELECT {', '.join(columns)} FROM {table} ORDER BY {order}"))


def compare(actual: sqlite3.Connection, expected: sqlite3.Connection,
            attached: str | None = None, skip: tuple[str, ...] = ()) -> list[str]:
    """Describe every projection row that differs from what the log says.

    With `attached`, the schema name under which `actual` sees the replay's file: a table
    SQLite itself finds equal is not read into Python (most of a full verify's comparison
    was reading both sides of every table); one it finds different is walked as before, to
    name its rows.
    """
    problems: list[str] = []
    for table, order in projection.PROJECTION_TABLES.items():
        if table in skip:
            continue
        info = expected.execute(f"PRAGMA table_info({table})").fetchall()
        columns = [str(r[1]) for r in info]
        if attached is not None and any(r[5] for r in info) \
                and _same_in_sql(actual, attached, table, columns):
            continue
        try:
            # Named main: with the replay attached, a table dropped from the live database
            # would otherwise be read from the replay's file under the same name.
            have = _rows(actual, f"main.{table}", columns,
                         order if table != "hashes" else "item")
            first = next(have, None)
        except sqlite3.DatabaseError as exc:
            problems.append(f"table {table}: unreadable ({exc})")
            continue
        want = _rows(expected, table, columns, order if table != "hashes" else "item")
        have_all = _chain(first, have)
        if table == "hashes":
            problems.extend(_compare_hashes(have_all, want))
        else:
            # The key is the ordering columns (one for most tables; page_text's three).
            index = [columns.index(c.strip()) for c in order.split(",")]
            problems.extend(_compare_keyed(table, columns, have_all, want, index))
    return problems


def _same_in_sql(conn: sqlite3.Connection, attached: str, table: str, columns: list[str]
                 ) -> bool:
    """True only if the live table holds exactly the replay's rows.

    Each live row is looked up in the replay by the replay's primary key and must be there
    with every column the same; every replay key must be in the live table; and both must
    have as many rows. Replay keys are distinct, so these mean the same rows, each once
    (two live rows of one key would leave a replay key unmatched, or one over the count).
    Compared byte for byte: COLLATE BINARY, so a table recreated with a case-blind column
    does not hide an edit, and only when both tables declare the same columns with the same
    types and keys, in any order (the same affinity: a value converted on the way would
    compare equal to one of another type); 1 and 1.0 are equal, as they are to the walk in
    Python. A join,
    not `EXCEPT` both ways: that sorted every row of both sides into temporary b-trees, most
    of a full verify's comparison. Any error (a table dropped or changed by hand) or doubt
    leaves the answer to the walk, which says what it found.
    """
    mine, theirs = f'main."{table}"', f'{attached}."{table}"'
    try:
        shape = [tuple(r)[1:3] + (tuple(r)[5],)
                 for r in conn.execute(f'PRAGMA {attached}.table_info("{table}")')]
        # In any order: columns added by later migrations may stand elsewhere in an older
        # database; every column is named in the query below.
        if sorted(shape) != sorted(tuple(r)[1:3] + (tuple(r)[5],)
                                   for r in conn.execute(f'PRAGMA main.table_info("{table}")')):
            return False
        keys = [name for name, _, pk in sorted((s for s in shape if s[2]), key=lambda s: s[2])]
        if not keys or [name for name, _, _ in shape] != columns:
            return False
        differs = " OR ".join(f'(a."{c}" COLLATE BINARY) IS NOT b."{c}"' for c in columns)
        if _same_by_rowid(conn, mine, theirs, differs):
            return True
        joined = " AND ".join(f'b."{k}" = a."{k}"' for k in keys)
        back = " AND ".join(f'a."{k}" = b."{k}"' for k in keys)
        query = (
            f"SELECT (SELECT COUNT(*) FROM {mine}) = (SELECT COUNT(*) FROM {theirs})"
            f" AND NOT EXISTS (SELECT 1 FROM {mine} a LEFT JOIN {theirs} b ON {joined}"
            f' WHERE b."{keys[0]}" IS NULL OR {differs})'
            f" AND NOT EXISTS (SELECT 1 FROM {theirs} b"
            f" WHERE NOT EXISTS (SELECT 1 FROM {mine} a WHERE {back}))")
        row = conn.execute(query).fetchone()
    except sqlite3.DatabaseError:
        return False
    return bool(row[0])


def _same_by_rowid(conn: sqlite3.Connection, mine: str, theirs: str, differs: str) -> bool:
    """True only if the two tables hold the same rows, found by pairing rows of equal rowid.

    The replay inserts rows in the log's order, as the live appliers did, so the two tables
    number their rows alike and this pairing is a walk of both in storage order. The key
    join below looks every row up by its key instead: for items (keyed by a SHA-256) that is
    a million random lookups each way, 5.6 s of a full verify's 9.9 s comparison at a
    million items. Sound on its own: rowids are distinct within each table, so every live
    row paired with a replay row equal in every column, and as many rows on both sides,
    pair the two tables one to one. (The columns are already known to be the replay's
    exactly, so no column named rowid shadows the real one.) Rows numbered otherwise (a
    live table rebuilt, or VACUUMed, or a WITHOUT ROWID table) only make this False, and
    the key join decides.
    """
    query = (
        f"SELECT (SELECT COUNT(*) FROM {mine}) = (SELECT COUNT(*) FROM {theirs})"
        f" AND NOT EXISTS (SELECT 1 FROM {mine} a LEFT JOIN {theirs} b ON b.rowid = a.rowid"
        f" WHERE b.rowid IS NULL OR {differs})")
    try:
        row = conn.execute(query).fetchone()
    except sqlite3.DatabaseError:
        return False
    return bool(row[0])


def _chain(first: tuple[Any, ...] | None, rest: Iterator[tuple[Any, ...]]
           ) -> Iterator[tuple[Any, ...]]:
    if first is not None:
        yield first
        yield from rest


def _compare_keyed(table: str, columns: list[str], have: Iterator[tuple[Any, ...]],
                   want: Iterator[tuple[Any, ...]], index: list[int] | None = None
                   ) -> list[str]:
    problems: list[str] = []
    extra: list[Any] = []
    index = index or [0]

    def key(row: tuple[Any, ...]) -> tuple[tuple[int, Any], ...]:
        return tuple(_order(row[i]) for i in index)

    def shown(row: tuple[Any, ...]) -> Any:
        return row[index[0]] if len(index) == 1 else tuple(row[i] for i in index)

    a, b = next(have, None), next(want, None)
    while a is not None or b is not None:
        if b is None or (a is not None and key(a) < key(b)):
            assert a is not None
            extra.append(shown(a))
            a = next(have, None)
        elif a is None or key(b) < key(a):
            problems.append(f"table {table}: row {shown(b)} is missing (the log records it)")
            b = next(want, None)
        else:
            for name, x, y in zip(columns, a, b, strict=True):
                if x != y:
                    problems.append(f"table {table}: row {shown(b)} column {name} is"
                                    f" {projection._clip(x)}, the log says {projection._clip(y)}")
            a, b = next(have, None), next(want, None)
    problems += [f"table {table}: row {k} is not in the log (inserted by hand)" for k in extra]
    return problems


def _by_item(rows: Iterator[tuple[Any, ...]]) -> Iterator[tuple[Any, Counter[Any]]]:
    """Hash rows grouped by their item (column 1), as multisets."""
    current: Any = None
    group: Counter[Any] = Counter()
    started = False
    for row in rows:
        if started and row[1] != current:
            yield current, group
            group = Counter()
        current, started = row[1], True
        group[row] += 1
    if started:
        yield current, group


def _compare_hashes(have: Iterator[tuple[Any, ...]], want: Iterator[tuple[Any, ...]]
                    ) -> list[str]:
    """As multisets of whole rows (hash rows have no natural single key)."""
    extra = missing = 0
    mine, theirs = _by_item(have), _by_item(want)
    a, b = next(mine, None), next(theirs, None)
    while a is not None or b is not None:
        if b is None or (a is not None and _order(a[0]) < _order(b[0])):
            assert a is not None
            extra += len(set(a[1]))
            a = next(mine, None)
        elif a is None or _order(b[0]) < _order(a[0]):
            missing += len(set(b[1]))
            b = next(theirs, None)
        else:
            if a[1] != b[1]:
                more, fewer = len(set(a[1]) - set(b[1])), len(set(b[1]) - set(a[1]))
                extra += more or (0 if fewer else 1)  # same rows, repeated: still a change
                missing += fewer
            a, b = next(mine, None), next(theirs, None)
    if extra or missing:
        return [f"table hashes: {extra} row(s) not in the log, {missing} row(s) missing"]
    return []
