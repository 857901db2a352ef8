"""The full verify's chain check, and its hash rows' comparison, in a second process.

A full verify is two halves: the chain and canonical check (parse, re-encode, SHA-256) and
the replay into the scratch file. On one core they add up; here a forked process checks the
chain while the verifying process replays, and the two meet at the end. The hash rows the
replay produces (ledger/hashstream.py) are sent to the worker, which compares them with the
live table as the verifying process did: that balances the two halves.

Same snapshot, proven rather than hoped: the worker opens its own read transaction; the
verifying connection reads `PRAGMA data_version` before the worker begins it and again as
the first statement of its own. SQLite documents that the value differs "if changes were
committed to the database by any other connection in the interim"; equal, no commit fell
between the two readings, and the worker's snapshot, taken between them, is the verifying
connection's. Unequal (a `prov add` committed meanwhile), the worker is stopped and the
chain is checked inline, as without one. Whatever is unusual at the end (the worker failed,
an applier raised, the counts disagree) is decided by replaying again inline.

The worker is forked while the verifying connection holds no transaction (SQLite's locks
belong to a process, and a connection must not cross a fork): it opens a connection of its
own and never touches the ones it inherits.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from provenance.ledger import hashstream, log
from provenance.ledger.db import connect

# Below this many events the fork costs more than the overlap gains (a few milliseconds).
WORKER_ABOVE = 20_000
# The worker adds CPU time of its own (each payload read and parsed twice, the hash rows
# sent between the two): it only pays with a core to spare. Busier than this (the load
# average over a minute), the chain is checked inline. None: the cores less one (on a
# 2-core machine, less than one other busy process on average).
WORKER_LOAD_BELOW: float | None = None
# How long to wait for the worker to begin its read transaction before checking inline.
_PIN_SECONDS = 30.0
# Hash rows are sent this many statements (registrations) at a time, ~70 KB pickled.
_BATCH = 64
# The worker looks for hash rows every this many events it has checked.
_POLL_EVERY = 128
_END = "end"


@dataclass(frozen=True)
class Verdict:
    """The worker's chain report; how many events it found sound before any break (every
    one, when `problems` is empty), which is what the inline check would have replayed;
    and whether every hash row sent matched the live table's, and no other was left."""

    chain: log.ChainReport
    sound: int
    hashes_matched: bool


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


def _widen(pipe: Connection) -> None:
    """A pipe of 1 MiB where the system allows, so the replay seldom waits for the worker
    to read its hash rows (64 KiB by default, one batch)."""
    with contextlib.suppress(OSError, AttributeError, ImportError):
        import fcntl  # Linux's F_SETPIPE_SZ; elsewhere the pipe stays as it is

        fcntl.fcntl(pipe.fileno(), fcntl.F_SETPIPE_SZ, 1 << 20)


class ForwardedHashes:
    """The replay's side of the hash stream: rows sent to the worker, not compared here.

    The same interface as hashstream.HashStream; what it can tell here (another statement
    on the table) makes it doubtful as there, and the worker's comparison does the rest.
    """

    def __init__(self, pipe: Connection) -> None:
        self._pipe = pipe
        self._batch: list[list[tuple[Any, ...]]] = []
        self.doubtful = False
        self.matched: bool | None = None  # the worker's answer, once given

    def take(self, rows: Iterable[tuple[Any, ...]]) -> None:
        if self.doubtful:
            return
        wanted = rows if isinstance(rows, list) else list(rows)
        if wanted:
            self._batch.append(wanted)
            if len(self._batch) >= _BATCH:
                self._send()

    def touched(self, sql: str) -> None:
        if not self.doubtful and hashstream.touches_hashes(sql):
            self.doubtful = True

    def _send(self) -> None:
        try:
            self._pipe.send(self._batch)
        except (OSError, ValueError):  # the worker is gone: its verdict says so
            self.doubtful = True
        self._batch = []

    def end(self) -> None:
        """Every row sent, and whether this side found anything doubtful."""
        if self._batch and not self.doubtful:
            self._send()
        with contextlib.suppress(OSError, ValueError):
            self._pipe.send((_END, self.doubtful))

    def finish(self) -> bool:
        return bool(self.matched) and not self.doubtful

    def close(self) -> None:
        self._pipe.close()


class ChainWorker:
    """A forked process checking the chain of the database `conn` reads, on its snapshot."""

    def __init__(self, process: Any, answers: Connection, rows: Connection,
                 before: int) -> None:
        self._process = process
        self._answers = answers
        self.hashes = ForwardedHashes(rows)
        self._before = before

    @classmethod
    def start(cls, conn: sqlite3.Connection) -> ChainWorker | None:
        """Fork the worker and wait until its read transaction has begun; call before `conn`
        begins its own, then `same_snapshot` as its first statement. None when no worker can
        be had here (no fork, an in-memory database, a file it cannot open read-only)."""
        if conn.in_transaction or "fork" not in multiprocessing.get_all_start_methods():
            return None
        path = _database_file(conn)
        if path is None:
            return None
        before = data_version(conn)
        answers, answer = multiprocessing.Pipe(duplex=False)
        inbox, rows = multiprocessing.Pipe(duplex=False)
        _widen(rows)
        context = multiprocessing.get_context("fork")
        process = context.Process(target=_run, args=(str(path), answer, inbox), daemon=True,
                                  name="prov-verify-chain")
        process.start()
        answer.close()
        inbox.close()
        worker = cls(process, answers, rows, before)
        try:
            pinned = answers.poll(_PIN_SECONDS) and answers.recv() == "pinned"
        except (EOFError, OSError):
            pinned = False
        if not pinned:
            worker.stop()
            return None
        return worker

    def same_snapshot(self, conn: sqlite3.Connection) -> bool:
        """Call as the first statement of `conn`'s read transaction: whether no commit fell
        between the reading before the worker began and this one (see the module's doc)."""
        return data_version(conn) == self._before

    def verdict(self) -> Verdict | None:
        """Once the replay is done: the worker's report when it has read the whole log;
        None if it failed (the caller then checks inline, which raises what it met)."""
        self.hashes.end()
        try:
            message = self._answers.recv()
        except (EOFError, OSError):
            message = None
        self.stop()
        if not (isinstance(message, tuple) and message[0] == "done"):
            return None
        _, events, head, problems, sound, matched = message
        self.hashes.matched = matched
        return Verdict(log.ChainReport(events, head, problems, []), sound, matched)

    def stop(self) -> None:
        if self._process.is_alive():
            self._process.terminate()
        self._process.join()
        self._answers.close()
        self.hashes.close()


def _run(path: str, answer: Connection, inbox: Connection) -> None:
    """The worker: its own read-only connection, one read transaction, the chain check,
    and the hash rows the replay sends compared with the live table as they come."""
    try:
        conn = connect(Path(path).absolute().as_uri() + "?mode=ro", uri=True)
        conn.execute("BEGIN")
        conn.execute("SELECT COUNT(*) FROM meta").fetchone()  # the snapshot begins here
        answer.send("pinned")
        try:
            stream: hashstream.HashStream | None = hashstream.HashStream(conn)
        except sqlite3.DatabaseError:  # the table dropped or changed: not matched
            stream = None
        ended: list[bool] = []  # the replay's own doubt, once it has sent every row

        def drain(wait: bool) -> None:
            while not ended and (wait or inbox.poll()):
                message = inbox.recv()
                if isinstance(message, tuple) and message[0] == _END:
                    ended.append(bool(message[1]))
                elif stream is not None:
                    for rows in message:
                        stream.take(rows)

        sound = 0

        def counted(_event: Any) -> None:
            nonlocal sound
            sound += 1
            if sound % _POLL_EVERY == 0:
                drain(wait=False)

        report = log.check_chain(conn, on_event=counted)
        drain(wait=True)
        matched = stream is not None and stream.finish() and not ended[0]
        answer.send(("done", report.events, report.head, report.problems, sound, matched))
    except BaseException as exc:  # reported as a failure: the caller checks inline
        with contextlib.suppress(OSError, ValueError):
            answer.send(("failed", repr(exc)))
    finally:
        answer.close()
