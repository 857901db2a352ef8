"""The full verify's chain check, and its sightings' comparison, in a second process.

A full verify is two halves: the chain and canonical check (parse, re-encode, SHA-256) and
the replay into the scratch file. On one core they add up; here a forked process checks the
chain while the verifying process replays, and the two meet at the end. The worker, which
parses every event for the chain check anyway, also compares the sightings and custody rows
those events write with the live tables (ledger/rowstream.py), and the replay skips those
events: that balances the two halves. (An earlier split sent the replay's hash rows to the worker
to compare; pickling them cost the replay nearly what comparing them itself does.)

Same snapshot, proven rather than hoped: the worker opens its own read transaction; the
verifying connection reads `PRAGMA data_version` before the worker begins it and again as
the first statement of its own. SQLite documents that the value differs "if changes were
committed to the database by any other connection in the interim"; equal, no commit fell
between the two readings, and the worker's snapshot, taken between them, is the verifying
connection's. Unequal (a `prov add` committed meanwhile), the worker is stopped and the
chain is checked inline, as without one. Whatever is unusual at the end (the worker failed,
an applier raised, the counts disagree, a streamed row not matched) is decided by replaying
again inline.

The worker is forked while the verifying connection holds no transaction (SQLite's locks
belong to a process, and a connection must not cross a fork): it opens a connection of its
own and never touches the ones it inherits.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import sqlite3
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from provenance.ledger import log, rowstream
from provenance.ledger.db import connect

# Below this many events the fork costs more than the overlap gains (a few milliseconds).
WORKER_ABOVE = 20_000
# The worker adds CPU time of its own (each payload read and parsed twice): it only pays
# with a core to spare. Busier than this (the load
# average over a minute), the chain is checked inline. None: the cores less one (on a
# 2-core machine, less than one other busy process on average).
WORKER_LOAD_BELOW: float | None = None
# How long to wait for the worker to begin its read transaction before checking inline.
_PIN_SECONDS = 30.0


@dataclass(frozen=True)
class Verdict:
    """The worker's chain report; how many events it found sound before any break (every
    one, when `problems` is empty), which is what the inline check would have replayed;
    and, when it compared any table's rows (ledger/rowstream.py), whether every one matched
    the live table's and no other was left (None when it compared none)."""

    chain: log.ChainReport
    sound: int
    streams_matched: bool | None


def wanted(events: int) -> bool:
    """Whether a log this long is worth a worker on this machine, as busy as it is now.
    $PROV_VERIFY_WORKER=always or never decides instead (benchmarks; a host that must not
    fork): the report is the same either way."""
    chosen = os.environ.get("PROV_VERIFY_WORKER", "").strip().lower()
    if chosen in ("always", "never"):
        return chosen == "always"
    if events <= WORKER_ABOVE:
        return False
    limit = WORKER_LOAD_BELOW
    if limit is None:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") \
            else (os.cpu_count() or 1)
        limit = cores - 1.0
    try:
        return os.getloadavg()[0] < limit
    except OSError:  # no load average here
        return False


def data_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA data_version").fetchone()[0])


def _database_file(conn: sqlite3.Connection) -> Path | None:
    for row in conn.execute("PRAGMA database_list"):
        if row[1] == "main":
            return Path(row[2]) if row[2] else None  # "" for an in-memory database
    return None


class ChainWorker:
    """A forked process checking the chain of the database `conn` reads, on its snapshot."""

    def __init__(self, process: Any, answers: Connection, before: int) -> None:
        self._process = process
        self._answers = answers
        self._before = before
        self.streamed: tuple[str, ...] = ()  # the tables whose rows it compares

    @property
    def skipped_types(self) -> frozenset[str]:
        """The event types the replay leaves to the worker."""
        return frozenset(rowstream.BY_TABLE[t].event_type for t in self.streamed)

    @classmethod
    def start(cls, conn: sqlite3.Connection, tables: dict[str, str] | None = None
              ) -> ChainWorker | None:
        """Fork the worker and wait until its read transaction has begun; call before `conn`
        begins its own, then `same_snapshot` as its first statement. None when no worker can
        be had here (no fork, an in-memory database, a file it cannot open read-only).

        With `tables` (rowstream.streamable's answer: table -> CREATE statement), the worker
        also compares those tables' rows where its snapshot allows (ledger/rowstream.py):
        `streamed` says which, and the replay skips their events."""
        if conn.in_transaction or "fork" not in multiprocessing.get_all_start_methods():
            return None
        path = _database_file(conn)
        if path is None:
            return None
        before = data_version(conn)
        answers, answer = multiprocessing.Pipe(duplex=False)
        context = multiprocessing.get_context("fork")
        process = context.Process(target=_run, args=(str(path), answer, tables or {}),
                                  daemon=True, name="prov-verify-chain")
        process.start()
        answer.close()
        worker = cls(process, answers, before)
        try:
            message = answers.recv() if answers.poll(_PIN_SECONDS) else None
        except (EOFError, OSError):
            message = None
        if not (isinstance(message, tuple) and message[0] == "pinned"):
            worker.stop()
            return None
        worker.streamed = tuple(message[1])
        return worker

    def same_snapshot(self, conn: sqlite3.Connection) -> bool:
        """Call as the first statement of `conn`'s read transaction: whether no commit fell
        between the reading before the worker began and this one (see the module's doc)."""
        return data_version(conn) == self._before

    def verdict(self) -> Verdict | None:
        """Once the replay is done: the worker's report when it has read the whole log;
        None if it failed (the caller then checks inline, which raises what it met)."""
        try:
            message = self._answers.recv()
        except (EOFError, OSError):
            message = None
        self.stop()
        if not (isinstance(message, tuple) and message[0] == "done"):
            return None
        _, events, head, problems, sound, matched = message
        return Verdict(log.ChainReport(events, head, problems, []), sound, matched)

    def stop(self) -> None:
        if self._process.is_alive():
            self._process.terminate()
        self._process.join()
        self._answers.close()


def _run(path: str, answer: Connection, tables: dict[str, str]) -> None:
    """The worker: its own read-only connection, one read transaction, the chain check,
    and (for the tables asked, where the live table and the log allow) each of their events'
    rows compared with the live table's as the check hands the event over."""
    try:
        conn = connect(Path(path).absolute().as_uri() + "?mode=ro", uri=True)
        conn.execute("BEGIN")
        conn.execute("SELECT COUNT(*) FROM meta").fetchone()  # the snapshot begins here
        streams: dict[str, rowstream.RowStream] = {}
        for table, sql in tables.items():
            try:
                stream = rowstream.RowStream(conn, rowstream.BY_TABLE[table], sql)
            except (sqlite3.DatabaseError, ValueError, KeyError):  # inserted by the replay
                continue
            streams[stream.kind.event_type] = stream
        answer.send(("pinned", [s.kind.table for s in streams.values()]))
        sound = 0
        by_type = {t: s.take for t, s in streams.items()}

        def counted(event: Any) -> None:
            nonlocal sound
            sound += 1
            take = by_type.get(event.type)
            if take is not None:
                take(event)

        report = log.check_chain(conn, on_event=counted)
        finished = [s.finish() for s in streams.values()]
        matched = all(finished) if finished else None
        answer.send(("done", report.events, report.head, report.problems, sound, matched))
    except BaseException as exc:  # reported as a failure: the caller checks inline
        with contextlib.suppress(OSError, ValueError):
            answer.send(("failed", repr(exc)))
    finally:
        answer.close()
