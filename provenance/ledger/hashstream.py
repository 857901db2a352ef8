"""The full verify's hash rows, compared with the live table as the replay produces them.

A registration writes a dozen hash rows (a picture's PDQ and its ten windows, its pHash):
most of a full verify's replay was SQLite inserting them into the scratch file, only to
compare them with the live table afterwards. Appliers write them with one statement,
`HASH_INSERT`, and no applier reads them back; so the replay's connection hands those rows
to a `HashStream` instead, which compares each with the live table's next row by id, as the
scratch table would have numbered it.

The stream only ever says "the same": anything else (a row that differs, a value of a type
SQLite would have converted or refused, a statement touching the table otherwise, live rows
left over) marks it `doubtful`, and the verify then replays again with the rows inserted as
before, which finds and words the difference (verify._replay_and_compare).
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterable
from typing import Any

from provenance.ledger import rowstream

# The statement both appliers that write hash rows use (ledger/projection.py,
# ledger/analysed_projection.py), word for word: one written otherwise is simply inserted.
HASH_INSERT = ("INSERT INTO hashes (item, algorithm, region, frame_seconds, page, value, quality)"
               " VALUES (?, ?, ?, ?, ?, ?, ?)")
_COLUMNS = "item, algorithm, region, frame_seconds, page, value, quality"
# Any other statement naming the table (a column named hashes, as item_analyses has, is not).
_TOUCHES = re.compile(r'\b(?:FROM|INTO|UPDATE|JOIN|TABLE)\s+(?:\w+\.)?"?hashes"?(?:\W|$)',
                      re.IGNORECASE)
# The appliers run a few dozen distinct statements: each searched once.
_SEEN: dict[str, bool] = {}


def touches_hashes(sql: str) -> bool:
    """Whether a statement names the hashes table (other than the appliers' insert)."""
    touches = _SEEN.get(sql)
    if touches is None:
        touches = _TOUCHES.search(sql) is not None
        if len(_SEEN) < 4096:  # bounded, should an applier build statements per event
            _SEEN[sql] = touches
    return touches


class HashStream:
    """The live hash rows in id order, consumed as the replay produces its own.

    The k-th live row is compared with the replay's k-th, which the replay would number k:
    so the live ids must be exactly 1 to N, which `finish` checks (the smallest and the
    largest, with N rows read, when ids are the table's primary key: distinct). Only a
    live table created by the migrations' own statement (`expected_sql`) is streamed; one
    rebuilt by hand (with a plain id column, say, where an id could repeat) is inserted and
    compared as before.
    """

    def __init__(self, live: sqlite3.Connection, expected_sql: str) -> None:
        """Raises sqlite3.DatabaseError when the live table cannot be read so or was not
        created by `expected_sql`: the caller then does not stream."""
        row = live.execute("SELECT sql FROM main.sqlite_master WHERE type = 'table'"
                           " AND name = 'hashes'").fetchone()
        if row is None or row[0] != expected_sql:
            raise sqlite3.DatabaseError("the live hashes table is not the migrations'")
        self._live = live
        self._cursor = live.cursor()
        self._cursor.row_factory = None
        self._cursor.execute(f"SELECT {_COLUMNS} FROM main.hashes ORDER BY id")
        self.rows = 0
        self.doubtful = False
        # The tables whose rows the chain worker compares (ledger/rowstream.py): a replay
        # statement naming one makes this stream doubtful too.
        self.elsewhere: tuple[str, ...] = ()

    @property
    def tables(self) -> tuple[str, ...]:
        """The tables compared as the replay ran, not to be compared again once matched."""
        return ("hashes", *self.elsewhere)

    def take(self, rows: Iterable[tuple[Any, ...]]) -> None:
        """One statement's rows, against as many live rows, compared as lists (a loop in
        Python per row cost as much as the inserts it replaces)."""
        if self.doubtful:
            return
        wanted = rows if isinstance(rows, list) else list(rows)
        if not wanted:
            return
        self.rows += len(wanted)
        try:
            have = self._cursor.fetchmany(len(wanted))
        except sqlite3.Error:  # a live value not readable as its type (text not UTF-8)
            self.doubtful = True
            return
        # Equal as Python values is equal as SQLite would have stored them: the numeric
        # columns convert without loss (3 stored as 3.0 still equals 3), and a text or blob
        # never equals a number; a row given as anything but a tuple is not equal to one.
        # What SQLite would refuse is a NULL in a NOT NULL column (item, algorithm, region,
        # value), which a live table altered behind SQLite's back could hold: not taken as
        # the same. (The ids: see `finish`.)
        if have != wanted:
            self.doubtful = True
            return
        columns = list(zip(*wanted, strict=True))
        if None in columns[0] or None in columns[1] or None in columns[2] \
                or None in columns[5]:
            self.doubtful = True

    def touched(self, sql: str) -> None:
        """Called with every other statement the replay runs."""
        if not self.doubtful and (touches_hashes(sql) or any(
                rowstream.touches(sql, table) for table in self.elsewhere)):
            self.doubtful = True

    def finish(self) -> bool:
        """True only if every live row was matched, in order, and no other was left. Closes
        the live rows' statement (left open, it would hold the read transaction's tables)."""
        try:
            if not self.doubtful and self._cursor.fetchone() is not None:
                self.doubtful = True
            if not self.doubtful:
                # N rows read, ids distinct (the primary key): 1 and N at the ends means
                # exactly 1 to N, the replay's numbering, row by row in that order.
                ends = self._live.execute("SELECT MIN(id), MAX(id) FROM main.hashes"
                                          ).fetchone()
                if tuple(ends) != ((1, self.rows) if self.rows else (None, None)):
                    self.doubtful = True
        except sqlite3.Error:
            self.doubtful = True
        self._cursor.close()
        return not self.doubtful


class StreamingConnection(sqlite3.Connection):
    """The replay's connection: hash rows go to `stream` when one is set."""

    # A HashStream, when one is set.
    stream: Any = None

    def executemany(self, sql: str, parameters: Iterable[Any], /) -> sqlite3.Cursor:
        stream = self.stream
        if stream is not None:
            if sql == HASH_INSERT and not stream.doubtful:
                stream.take(parameters)
                return self.cursor()
            stream.touched(sql)
        return super().executemany(sql, parameters)

    def execute(self, sql: str, parameters: Any = (), /) -> sqlite3.Cursor:
        stream = self.stream
        if stream is not None:
            stream.touched(sql)
        return super().execute(sql, parameters)
