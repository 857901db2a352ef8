"""`prov verify`: the chain, the projections and the evidence store, checked from scratch."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from provenance.ledger import (
    chainworker,
    evidence,
    fixity,
    incremental,
    log,
    replaycheck,
    rowstream,
    snapshot,
)
from provenance.ledger import checkpoint as checkpoints
from provenance.ledger.db import migrations, split_sql


@dataclass
class VerifyReport:
    ok: bool
    events: int
    head: str
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    files_checked: int = 0
    checkpoint: dict[str, Any] | None = None
    # With --tsa-cert: one sentence per RFC 3161 stamp that verified ("log head … existed at").
    timestamps: list[str] = field(default_factory=list)
    # With --since: the checkpoint the check started from ({"file", "events", "head"}).
    since: dict[str, Any] | None = None
    # With --rehash-older-than: the fixity.checked event recording this run's re-hashes.
    fixity_event: int | None = None
    # How many events were replayed to rebuild the tables compared (all, or with --since
    # the new ones and the earlier history of the items they touch).
    replayed: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "events": self.events,
            "head": self.head,
            "problems": self.problems,
            "warnings": self.warnings,
            "files_checked": self.files_checked,
            "checkpoint": self.checkpoint,
            "timestamps": self.timestamps,
            "since": self.since,
            "fixity_event": self.fixity_event,
            "replayed": self.replayed,
        }


@dataclass(frozen=True)
class Plan:
    """How much to check: from a checkpoint or from scratch, and which originals to re-hash.

    rehash: "all" (every original), "none" (--no-rehash), or "due" (only those a recorded
    fixity schedule says are due, `older_than_days`; their re-hashes are recorded).
    With `since`, "all" means the originals registered after the checkpoint.
    """

    since: Path | None = None
    full_chain: bool = False  # with since: re-hash the log before the checkpoint too
    rehash: str = "all"
    older_than_days: int | None = None
    by: str = "prov"


def verify(
    conn: sqlite3.Connection,
    *,
    checkpoint_file: Path | None = None,
    public_key: Path | None = None,
    tsa_cert: Path | None = None,
    plan: Plan | None = None,
) -> VerifyReport:
    """Check the log, the tables and the store as they stood at one moment.

    Everything is read in one read transaction, so a `prov add` committing meanwhile is either
    wholly seen or not at all: its rows never look "inserted by hand". A scheduled re-hash
    (`plan.rehash == "due"`) records what it found afterwards, in one write transaction.
    """
    plan = plan or Plan()
    if plan.rehash != "none":
        snapshot.refuse_rehash_without_originals(conn)
    since_doc = checkpoints.load_for(conn, plan.since) if plan.since is not None else None
    own = not conn.in_transaction
    replayer = None
    if own and since_doc is None:
        # The replay's scratch file, attached before the read transaction begins (SQLite
        # attaches no database inside one), so SQLite compares its tables with the live
        # ones itself; the replay writes it through its own connection meanwhile.
        replayer = replaycheck.Replayer(_statements())
        if _missing_tables(conn, replayer):
            # Said below, as it always was; attached, the replay's table of that name
            # would be read instead (and checked again inside the transaction).
            replayer.close()
            replayer = None
        else:
            try:
                conn.execute(f"ATTACH DATABASE ? AS {replaycheck.ATTACHED}",
                             (str(replayer.path),))
            except sqlite3.DatabaseError:
                replayer.close()
                raise
    worker = None
    try:
        if replayer is not None and chainworker.wanted(_log_length(conn)):
            # The chain checked in a second process, on this connection's snapshot (begun
            # before it, proven the same just below; ledger/chainworker.py).
            worker = chainworker.ChainWorker.start(
                conn, rowstream.streamable(replayer.conn))
        if own:
            conn.execute("BEGIN")
        if worker is not None and not worker.same_snapshot(conn):
            worker.stop()  # a commit between the two: the chain is checked inline
            worker = None
        try:
            report, unnamed, rehashed = _verify(conn, checkpoint_file, public_key, tsa_cert,
                                                plan, since_doc, replayer, worker)
        finally:
            if own and conn.in_transaction:
                conn.execute("ROLLBACK")
    finally:
        if worker is not None:
            worker.stop()
        if replayer is not None:
            conn.execute(f"DETACH DATABASE {replaycheck.ATTACHED}")
            replayer.close()
    problems, warnings = evidence.unnamed_problems(conn, unnamed)
    report.problems.extend(problems)
    report.warnings.extend(warnings)
    if rehashed:  # a run with nothing due records nothing
        report.fixity_event = fixity.record(conn, rehashed, days=plan.older_than_days,
                                            by=plan.by)
    report.ok = not report.problems
    return report


def _log_length(conn: sqlite3.Connection) -> int:
    """The log's length as last recorded (its last seq), cheaply, to decide on a worker."""
    row = conn.execute("SELECT MAX(seq) FROM events").fetchone()
    return int(row[0] or 0)


def _missing_tables(conn: sqlite3.Connection, replayer: replaycheck.Replayer) -> list[str]:
    """Tables of the replay the live database lacks: a name it lacks would be read from the
    attached replay. (Asked of the replay's own connection: reading its file through `conn`
    before the replay is written would hold a lock on it that the replay's commit waits for.)
    """
    wanted = {str(r[0]) for r in replayer.conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")}
    have = {str(r[0]) for r in conn.execute(
        "SELECT name FROM main.sqlite_master WHERE type = 'table'")}
    return sorted(wanted - have)


def _statements() -> list[str]:
    return [s for _, sql in migrations() for s in split_sql(sql)]


def _verify(
    conn: sqlite3.Connection, checkpoint_file: Path | None, public_key: Path | None,
    tsa_cert: Path | None, plan: Plan, since_doc: dict[str, Any] | None,
    attached: replaycheck.Replayer | None, worker: chainworker.ChainWorker | None = None,
) -> tuple[VerifyReport, list[Path], list[tuple[str, str]] | None]:
    after = int(since_doc["events"]) if since_doc else 0
    problems: list[str] = []
    warnings: list[str] = []
    dropped: list[str] = []  # said first, but not taken for a broken log
    if attached is not None:
        # A table dropped since the check before the transaction began.
        missing = _missing_tables(conn, attached)
        if missing:
            dropped.append(f"table(s) {', '.join(missing)} missing from the database")
    total = int(conn.execute("SELECT COUNT(*) FROM events").fetchone()[0])
    statements = _statements()
    compared: list[str] = []
    if since_doc is not None:
        # Its truncation, rewrite, signature and time-stamp checks run below, as for
        # --checkpoint; a truncated log has nothing after the checkpoint to check.
        checkpoint_file = checkpoint_file or plan.since
        if total >= after:
            if plan.full_chain:
                problems.extend(
                    incremental.prefix_problems(conn, after, str(since_doc["head"])))
            chain = log.check_chain(conn, after=after, previous=str(since_doc["head"]))
        else:
            chain = log.ChainReport(total, "", ["the log is shorter than the checkpoint"], [])
    else:
        replayer = attached or replaycheck.Replayer(statements)
        try:
            beside = None
            if worker is not None and replayer.stream_hashes(conn):
                stream = replayer.conn.stream
                stream.elsewhere = worker.streamed
                beside = _replay_beside(conn, replayer, worker)
                if beside is None:  # anything unusual: all again, inline, which decides
                    replayer.restart()
            elif worker is not None:  # the hash rows cannot be streamed: all inline
                worker.stop()
            if beside is not None:
                chain, streamed = beside, True
            else:
                streamed = replayer.stream_hashes(conn)
                chain = log.check_chain(conn, on_event=replayer.apply)
            matched = replayer.hashes_matched() if streamed else None
            if matched is False and not chain.problems:
                # Something about the hash rows differs, or could: replayed again with them
                # inserted, as before streaming, to be compared and named row by row (the
                # same snapshot, the same chain, read twice: only a failing verify pays).
                replayer.restart()
                chain = log.check_chain(conn, on_event=replayer.apply)
            compared = _compare_replayed(conn, chain, replayer,
                                         replaycheck.ATTACHED if attached else None,
                                         skip=replayer.streamed_tables() if matched else ())
        finally:
            if attached is None:  # an attached one is closed once detached
                replayer.close()
    problems.extend(chain.problems)
    log_broken = bool(problems)
    problems[:0] = dropped
    last = conn.execute("SELECT chain_hash FROM events ORDER BY seq DESC LIMIT 1").fetchone()
    head = str(last[0]) if last else chain.head

    schema_problems, schema_warnings = _check_schema(conn, statements)
    problems.extend(schema_problems)
    warnings.extend(schema_warnings)
    replayed = 0
    if log_broken:
        problems.append("projections not compared: the log itself is broken")
    elif since_doc is not None:
        found, replayed = incremental.touched_problems(conn, after, chain.replayed, statements)
        problems.extend(found)
        problems.extend(incremental.row_set_problems(conn))
    else:
        problems.extend(compared)
        replayed = chain.events
    problems.extend(fixity.check_sealed(conn, after=after))

    sound = not problems
    store, rehashed = _check_originals(conn, plan, after)
    if rehashed and not sound:
        # Chaining a record onto a log or tables that do not check out would bury the damage.
        warnings.append("the re-hashes were not recorded: the log or tables are not sound")
        rehashed = None
    problems.extend(store.problems)
    warnings.extend(store.warnings)

    checkpoint_info = None
    if checkpoint_file is not None:
        result = checkpoints.check(conn, checkpoint_file, public_key, tsa_cert)
        problems.extend(result.problems)
        warnings.extend(result.warnings)
        checkpoint_info = result.info
    stamped: list[str] = []
    if tsa_cert is not None:
        from provenance.ledger import timestamp

        stamp_problems, stamped = timestamp.check_recorded(conn, tsa_cert)
        problems.extend(stamp_problems)
        if not stamp_problems and not stamped and checkpoint_file is None:
            warnings.append("--tsa-cert was given, but the log records no time-stamp")
        if checkpoint_info and checkpoint_info.get("timestamp"):
            stamped.insert(0, checkpoint_info["timestamp"]["statement"])
    report = VerifyReport(
        ok=not problems,
        events=total,
        head=head,
        problems=problems,
        warnings=warnings,
        files_checked=store.checked,
        replayed=replayed,
        checkpoint=checkpoint_info,
        timestamps=list(dict.fromkeys(stamped)),
        since=({"file": str(plan.since), "events": after, "head": since_doc["head"]}
               if since_doc is not None else None),
    )
    return report, store.unnamed, rehashed


def _replay_beside(conn: sqlite3.Connection, replayer: replaycheck.Replayer,
                   worker: chainworker.ChainWorker) -> log.ChainReport | None:
    """The replay here (comparing the hash rows as it goes) while the worker checks the
    chain and compares the sightings and custody rows: its report, as the inline check
    would have made it, or None when the replay must be run again inline to decide.

    The replay applies each event as read, ahead of the check. An event the inline check
    would never have handed over (at or after the first break) changes nothing, as the
    tables are then not compared. Anything else unusual (the worker failed, a payload not
    read or an applier raising before the break, counts or heads that disagree) is left
    to the inline replay, which raises or reports it as it always did.
    """
    stopped = replayer.apply_log(conn, skip=worker.skipped_types)
    verdict = worker.verdict()
    if verdict is None:
        return None
    chain = verdict.chain
    if stopped is not None and stopped.seq <= verdict.sound:
        return None
    if worker.streamed and not chain.problems and verdict.streams_matched is not True:
        return None  # a streamed row differs, or could: inserted and compared inline
    if not chain.problems:
        # Sound: every event read here was the worker's (one snapshot), so as many, ending
        # at the same head. Checked all the same, cheaply.
        last = conn.execute(
            "SELECT chain_hash FROM events ORDER BY seq DESC LIMIT 1").fetchone()
        if replayer.count != chain.events or (last is not None and last[0] != chain.head):
            return None
    return chain


def _check_originals(conn: sqlite3.Connection, plan: Plan, after: int
                     ) -> tuple[evidence.StoreCheck, list[tuple[str, str]] | None]:
    """Re-hash what the plan asks for; with a schedule, also what it found, to record."""
    if plan.rehash == "all" and plan.since is None:
        return evidence.check_store(conn), None
    result = evidence.StoreCheck(0, [], [], [])
    if plan.rehash == "none":
        return result, None
    wanted: dict[str, int] = {}
    if plan.rehash == "due":
        # The schedule covers new originals too: never checked, so due.
        assert plan.older_than_days is not None
        due = fixity.due(conn, plan.older_than_days)
        result.problems.extend(due.problems)
        wanted.update(due.items)
    elif plan.since is not None:
        # Originals registered (or first stored) after the checkpoint.
        for sha, size in conn.execute(
                "SELECT sha256, size FROM items WHERE stored = 1 AND sha256 IN"
                " (SELECT item FROM events WHERE seq > ? AND type IN"
                " ('item.registered', 'item.stored', 'item.restored'))", (after,)):
            wanted[str(sha)] = int(size)
    done = fixity.rehash(conn, sorted(wanted.items()))
    result.checked = len(done.results)
    result.problems.extend(done.problems)
    return result, (done.results if plan.rehash == "due" else None)


def _schema_objects(conn: sqlite3.Connection, kind: str) -> dict[str, str]:
    return {
        str(r[0]): " ".join(str(r[1] or "").split())
        for r in conn.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = ? AND name NOT LIKE 'sqlite_%'",
            (kind,),
        )
    }


def _check_schema(
    conn: sqlite3.Connection, statements: list[str]
) -> tuple[list[str], list[str]]:
    """The triggers and views, name and SQL, against what the migrations create.

    A same-named trigger that never fires protects nothing, and a view whose SQL was changed
    answers a different question under the old name: both are compared in full.
    """
    wanted = sqlite3.connect(":memory:")
    try:
        for statement in statements:
            wanted.execute(statement)
        problems: list[str] = []
        warnings: list[str] = []
        for kind in ("trigger", "view"):
            expected = _schema_objects(wanted, kind)
            actual = _schema_objects(conn, kind)
            missing = sorted(set(expected) - set(actual))
            changed = sorted(n for n in set(expected) & set(actual) if expected[n] != actual[n])
            extra = sorted(set(actual) - set(expected))
            what = "log protection" if kind == "trigger" else "investigators' views"
            if missing:
                problems.append(f"{what} removed: {kind}(s) {', '.join(missing)} missing")
            if changed:
                problems.append(
                    f"{kind}(s) {', '.join(changed)} differ from the migrations that created them"
                )
            if extra and kind == "trigger":
                problems.append(f"trigger(s) {', '.join(extra)} not created by any migration")
            elif extra:
                warnings.append(f"view(s) {', '.join(extra)} not created by any migration")
        return problems, warnings
    finally:
        wanted.close()


def _compare_replayed(conn: sqlite3.Connection, chain: log.ChainReport,
                      replayer: replaycheck.Replayer, attached: str | None,
                      skip: tuple[str, ...] = ()) -> list[str]:
    """The tables against the replay, once the whole chain checked out; `skip`, tables
    already compared row by row as the replay produced them."""
    replayed = replayer.finish()
    if chain.problems:
        return []  # said below: "projections not compared"
    if replayer.error is not None:
        return [replayer.error]
    return replaycheck.compare(conn, replayed, attached, skip=skip)
