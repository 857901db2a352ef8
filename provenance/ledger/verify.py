"""`prov verify`: the chain, the projections and the evidence store, checked from scratch."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from provenance.ledger import checkpoint as checkpoints
from provenance.ledger import evidence, log, projection
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
        }


def verify(
    conn: sqlite3.Connection,
    *,
    checkpoint_file: Path | None = None,
    public_key: Path | None = None,
    tsa_cert: Path | None = None,
) -> VerifyReport:
    """Check the log, the tables and the store as they stood at one moment.

    Everything is read in one read transaction, so a `prov add` committing meanwhile is either
    wholly seen or not at all: its rows never look "inserted by hand".
    """
    own = not conn.in_transaction
    if own:
        conn.execute("BEGIN")
    try:
        report, unnamed = _verify(conn, checkpoint_file, public_key, tsa_cert)
    finally:
        if own and conn.in_transaction:
            conn.execute("ROLLBACK")
    problems, warnings = evidence.unnamed_problems(conn, unnamed)
    report.problems.extend(problems)
    report.warnings.extend(warnings)
    report.ok = not report.problems
    return report


def _verify(
    conn: sqlite3.Connection, checkpoint_file: Path | None, public_key: Path | None,
    tsa_cert: Path | None = None,
) -> tuple[VerifyReport, list[Path]]:
    chain = log.check_chain(conn)
    problems = list(chain.problems)
    warnings: list[str] = []
    last = conn.execute("SELECT chain_hash FROM events ORDER BY seq DESC LIMIT 1").fetchone()
    head = str(last[0]) if last else chain.head

    statements = [s for _, sql in migrations() for s in split_sql(sql)]
    schema_problems, schema_warnings = _check_schema(conn, statements)
    problems.extend(schema_problems)
    warnings.extend(schema_warnings)
    if not chain.problems:
        problems.extend(_check_projections(conn, chain.replayed, statements))
    else:
        problems.append("projections not compared: the log itself is broken")

    store = evidence.check_store(conn)
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
        events=chain.events,
        head=head,
        problems=problems,
        warnings=warnings,
        files_checked=store.checked,
        checkpoint=checkpoint_info,
        timestamps=list(dict.fromkeys(stamped)),
    )
    return report, store.unnamed


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


def _check_projections(
    conn: sqlite3.Connection, events: list[log.Event], statements: list[str]
) -> list[str]:
    try:
        rebuilt = projection.replay(events, statements)
    except (sqlite3.DatabaseError, KeyError, ValueError, TypeError) as exc:
        return [f"the log cannot be replayed: {exc}"]
    try:
        return projection.compare(conn, rebuilt)
    finally:
        rebuilt.close()
