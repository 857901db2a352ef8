"""The full verify's sightings, compared with the live table by the chain worker.

A `sighting.recorded` event writes one row of `sightings`, keyed by its own seq, with one
statement (projection.SIGHTING_INSERT); no applier reads the table or writes it otherwise,
and no trigger the replay keeps fires on it or writes it (checked: `streamable`). Sightings
are nearly half the events of a registration-heavy log. So the chain worker
(ledger/chainworker.py), which parses every event for the chain check anyway, asks the
applier itself what row it would insert and compares that with the live table's next row in
id order; the verifying process skips those events (their payloads are not even read there)
and does not compare the table at the end.

Only "the same" is ever concluded here. Anything else marks the stream `doubtful`, and the
verify then replays the whole log again inline with every row inserted, which finds and
words the difference as before:
- the applier raising, or running any statement but the one insert;
- a value of a type SQLite would have converted or refused (the id not an integer, a text
  column given anything but text or NULL, a NULL in a NOT NULL column);
- a live row that differs, in value or type, or cannot be read;
- live rows left over, or too few;
- the verifying process's replay running any other statement that names the table.
"""

from __future__ import annotations

import re
import sqlite3
from typing import Any

from provenance.ledger import projection
from provenance.ledger.event import Event

TABLE = "sightings"
EVENT_TYPE = "sighting.recorded"
# The columns of the applier's insert, in its order: read back from the live table so.
COLUMNS: tuple[str, ...] = tuple(
    c.strip() for c in re.search(r"\(([^)]*)\)", projection.SIGHTING_INSERT).group(1)  # type: ignore[union-attr]
    .split(","))
# Any statement naming the table (a column such as sightings_count would not).
_TOUCHES = re.compile(r'\b(?:FROM|INTO|UPDATE|JOIN|TABLE|ON)\s+(?:\w+\.)?"?sightings"?(?:\W|$)',
                      re.IGNORECASE)
_SEEN: dict[str, bool] = {}


def touches(sql: str) -> bool:
    """Whether a statement names the sightings table."""
    found = _SEEN.get(sql)
    if found is None:
        found = _TOUCHES.search(sql) is not None
        if len(_SEEN) < 4096:
            _SEEN[sql] = found
    return found


def streamable(replay: sqlite3.Connection) -> str | None:
    """The replay's CREATE TABLE statement for sightings when its rows can be streamed: no
    trigger the replay keeps names the table (one firing on its inserts, or writing it from
    another table's, would make its rows more than the sightings events'). None otherwise.
    The worker streams only if the live table was created by the same statement."""
    row = replay.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?",
                         (TABLE,)).fetchone()
    if row is None or row[0] is None:
        return None
    for (sql,) in replay.execute("SELECT sql FROM sqlite_master WHERE type = 'trigger'"):
        if sql is None or touches(str(sql)):
            return None
    return str(row[0])


class _Recorder:
    """Stands in for the replay's connection: keeps the statements an applier runs."""

    def __init__(self) -> None:
        self.statements: list[tuple[str, Any]] = []

    def execute(self, sql: str, parameters: Any = ()) -> None:
        self.statements.append((sql, parameters))

    def executemany(self, sql: str, parameters: Any) -> None:
        self.statements.append((sql, None))  # not the one insert: doubtful


class SightingStream:
    """The live sightings in id order, consumed as the chain check hands over each event."""

    def __init__(self, live: sqlite3.Connection, expected_sql: str) -> None:
        """Raises sqlite3.DatabaseError when the table cannot be read so, and ValueError when
        the live table was not created by `expected_sql`: the caller then does not stream."""
        row = live.execute("SELECT sql FROM main.sqlite_master WHERE type = 'table'"
                           " AND name = ?", (TABLE,)).fetchone()
        if row is None or row[0] != expected_sql:
            raise ValueError("the live sightings table is not the migrations'")
        # NOT NULL as the table is created: the same statement, so the same for the replay.
        self._not_null = [i for i, name in enumerate(COLUMNS)
                          if any(r[1] == name and r[3] for r in
                                 live.execute(f"PRAGMA main.table_info({TABLE})"))]
        self._applier = projection.APPLIERS[EVENT_TYPE]
        self._cursor = live.cursor()
        self._cursor.row_factory = None
        self._cursor.execute(f"SELECT {', '.join(COLUMNS)} FROM main.{TABLE} ORDER BY id")
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
        if len(recorder.statements) != 1 or recorder.statements[0][0] \
                != projection.SIGHTING_INSERT:
            self.doubtful = True
            return
        wanted = tuple(recorder.statements[0][1])
        self.rows += 1
        try:
            have = self._cursor.fetchone()
        except sqlite3.Error:  # a live value not readable as its type (text not UTF-8)
            self.doubtful = True
            return
        if have is None or len(have) != len(wanted) or len(wanted) != len(COLUMNS) \
                or type(wanted[0]) is not int or have != wanted \
                or any(type(w) is not type(h) for w, h in zip(wanted, have, strict=True)) \
                or any(type(w) is not str for w in wanted[1:] if w is not None) \
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
