"""The full verify's sightings and custody rows, compared with the live tables by the chain
worker.

A `sighting.recorded` event writes one row of `sightings`, a `custody.recorded` one row of
`custody`, each keyed by the event's own seq, with one statement (projection's
SIGHTING_INSERT, CUSTODY_INSERT). Together they are over half the events of a
registration-heavy log. The chain worker (ledger/chainworker.py), which parses every event
for the chain check anyway, asks the applier itself what row it would insert and compares
that with the live table's next row in id order; the verifying process skips those events
(their payloads are not even read there) and does not compare those tables at the end.

A table is streamed only when nothing else writes it in this log: no trigger the replay
keeps names it (`streamable`), the live table was created by the migrations' own statement,
and the log holds no event of the types whose appliers also write it (`Kind.others`: an
actor merge rewrites custody's actors, a correction of custody adds a row). That last list is
for speed only: should another applier touch the table, the verifying process sees the
statement (`touches`) and the verify is decided inline.

Only "the same" is ever concluded here. Anything else marks the stream `doubtful`, and the
verify then replays the whole log again inline with every row inserted, which finds and
words the difference as before:
- the applier raising, or running any statement but the one insert;
- a value of another type than the live table holds (SQLite would have converted it, or it
  differs), a NULL in a NOT NULL column, an id that is not an integer;
- a live row that differs, in value or type, or cannot be read;
- live rows left over, or too few;
- the verifying process's replay running any other statement that names the table.
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass
from typing import Any

from provenance.ledger import projection
from provenance.ledger.event import Event


@dataclass(frozen=True)
class Kind:
    """A table written only by one event type's insert, and which other events may write it."""

    table: str
    event_type: str
    insert: str
    # A condition on the events table: a log holding such an event is not streamed for it.
    others: str | None = None

    @property
    def columns(self) -> tuple[str, ...]:
        """The insert's columns, in its order: the live table is read back so."""
        found = re.search(r"\(([^)]*)\)", self.insert)
        assert found is not None
        return tuple(c.strip() for c in found.group(1).split(","))


KINDS: tuple[Kind, ...] = (
    Kind("sightings", "sighting.recorded", projection.SIGHTING_INSERT),
    Kind("custody", "custody.recorded", projection.CUSTODY_INSERT,
         others="type = 'actor.merged' OR (type = 'event.corrected'"
                " AND json_extract(payload, '$.data.corrects') = 'custody')"),
)
BY_TABLE = {k.table: k for k in KINDS}
_TOUCHES = {k.table: re.compile(
    rf'\b(?:FROM|INTO|UPDATE|JOIN|TABLE|ON)\s+(?:\w+\.)?"?{k.table}"?(?:\W|$)', re.IGNORECASE)
    for k in KINDS}
_SEEN: dict[tuple[str, str], bool] = {}


def touches(sql: str, table: str) -> bool:
    """Whether a statement names `table` (a column such as sightings_count would not)."""
    found = _SEEN.get((sql, table))
    if found is None:
        found = _TOUCHES[table].search(sql) is not None
        if len(_SEEN) < 4096:
            _SEEN[(sql, table)] = found
    return found


def streamable(replay: sqlite3.Connection) -> dict[str, str]:
    """The tables whose rows can be streamed, with the replay's CREATE TABLE statement of
    each: those no trigger the replay keeps names (one firing on their inserts, or writing
    them from another table's, would make their rows more than their events'). The worker
    streams one only if the live table was created by the same statement."""
    triggers = [str(sql) if sql is not None else "" for (sql,) in replay.execute(
        "SELECT sql FROM sqlite_master WHERE type = 'trigger'")]
    found = {}
    for kind in KINDS:
        row = replay.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?",
                             (kind.table,)).fetchone()
        if row is None or row[0] is None:
            continue
        if any(not sql or touches(sql, kind.table) for sql in triggers):
            continue
        found[kind.table] = str(row[0])
    return found


class _Recorder:
    """Stands in for the replay's connection: keeps the statements an applier runs."""

    def __init__(self) -> None:
        self.statements: list[tuple[str, Any]] = []

    def execute(self, sql: str, parameters: Any = ()) -> None:
        self.statements.append((sql, parameters))

    def executemany(self, sql: str, parameters: Any) -> None:
        self.statements.append((sql, None))  # not the one insert: doubtful


class RowStream:
    """One table's live rows in id order, consumed as the chain check hands over each of its
    events."""

    def __init__(self, live: sqlite3.Connection, kind: Kind, expected_sql: str) -> None:
        """Raises sqlite3.DatabaseError when the table cannot be read so, and ValueError when
        the live table was not created by `expected_sql` or the log holds an event of
        `kind.others`: the caller then does not stream it."""
        row = live.execute("SELECT sql FROM main.sqlite_master WHERE type = 'table'"
                           " AND name = ?", (kind.table,)).fetchone()
        if row is None or row[0] != expected_sql:
            raise ValueError(f"the live {kind.table} table is not the migrations'")
        if kind.others is not None and live.execute(
                f"SELECT 1 FROM main.events WHERE {kind.others} LIMIT 1").fetchone():
            raise ValueError(f"other events write {kind.table} in this log")
        self.kind = kind
        columns = kind.columns
        # NOT NULL as the table is created: the same statement, so the same for the replay.
        info = {str(r[1]): bool(r[3]) for r in live.execute(
            f"PRAGMA main.table_info({kind.table})")}
        self._not_null = [i for i, name in enumerate(columns) if info.get(name)]
        self._width = len(columns)
        self._applier = projection.APPLIERS[kind.event_type]
        self._cursor = live.cursor()
        self._cursor.row_factory = None
        self._cursor.execute(f"SELECT {', '.join(columns)} FROM main.{kind.table} ORDER BY id")
        self.rows = 0
        self.doubtful = False

    def take(self, event: Event) -> None:
        if self.doubtful:
            return
        recorder = _Recorder()
        try:
            self._applier(recorder, event)  # type: ignore[arg-type]
        except Exception:  # what the inline replay meets again, and reports or raises
            self.doubtful = True
            return
        if len(recorder.statements) != 1 or recorder.statements[0][0] != self.kind.insert:
            self.doubtful = True
            return
        wanted = tuple(recorder.statements[0][1])
        self.rows += 1
        try:
            have = self._cursor.fetchone()
        except sqlite3.Error:  # a live value not readable as its type (text not UTF-8)
            self.doubtful = True
            return
        # Equal in value and in type, against a live table created by the same statement:
        # what the replay would have stored (a value SQLite converts on the way in, such as
        # a number for a text column, arrives as another type than the live one holds).
        if have is None or len(wanted) != self._width or have != wanted \
                or type(wanted[0]) is not int \
                or any(type(w) is not type(h) for w, h in zip(wanted, have, strict=True)) \
                or any(wanted[i] is None for i in self._not_null):
            self.doubtful = True

    def finish(self) -> bool:
        """True only if every live row was matched, in order, and no other was left."""
        try:
            if not self.doubtful and self._cursor.fetchone() is not None:
                self.doubtful = True
        except sqlite3.Error:
            self.doubtful = True
        self._cursor.close()
        return not self.doubtful
