"""`prov verify`: the chain, the projections and the evidence store, checked from scratch."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from provenance.ledger import checkpoint as checkpoints
from provenance.ledger import log, projection
from provenance.ledger.db import migrations, split_sql
from provenance.ledger.evidence import EvidenceStore, sha256_file


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
    chain = log.check_chain(conn)
    problems = list(chain.problems)
    warnings: list[str] = []
    last = conn.execute("SELECT chain_hash FROM events ORDER BY seq DESC LIMIT 1").fetchone()
    head = str(last[0]) if last else chain.head

    problems.extend(_check_triggers(conn))
    if not chain.problems:
        problems.extend(_check_projections(conn, chain.replayed))
    else:
        problems.append("projections not compared: the log itself is broken")

    files, store_problems, store_warnings = _check_store(conn)
    problems.extend(store_problems)
    warnings.extend(store_warnings)

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
    return VerifyReport(
        ok=not problems,
        events=chain.events,
        head=head,
        problems=problems,
        warnings=warnings,
        files_checked=files,
        checkpoint=checkpoint_info,
        timestamps=list(dict.fromkeys(stamped)),
    )


def _check_triggers(conn: sqlite3.Connection) -> list[str]:
    wanted = {"events_no_update", "events_no_delete", "events_next_seq"}
    have = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")}
    missing = sorted(wanted - have)
    if missing:
        return [f"log protection removed: trigger(s) {', '.join(missing)} missing"]
    return []


def _check_projections(conn: sqlite3.Connection, events: list[log.Event]) -> list[str]:
    statements = [s for _, sql in migrations() for s in split_sql(sql)]
    try:
        rebuilt = projection.replay(events, statements)
    except (sqlite3.DatabaseError, KeyError, ValueError, TypeError) as exc:
        return [f"the log cannot be replayed: {exc}"]
    try:
        return projection.compare(conn, rebuilt)
    finally:
        rebuilt.close()


def _check_store(conn: sqlite3.Connection) -> tuple[int, list[str], list[str]]:
    """Re-hash every stored original; check referenced ones where they still are."""
    store = EvidenceStore.beside(conn)
    problems: list[str] = []
    warnings: list[str] = []
    checked = 0
    rows = conn.execute("SELECT sha256, stored FROM items ORDER BY registered_event").fetchall()
    for row in rows:
        sha = row["sha256"]
        if row["stored"]:
            path = store.path_of(sha)
            checked += 1
            if not path.exists():
                problems.append(f"stored original {sha} is missing from {path}")
            elif sha256_file(path) != sha:
                problems.append(f"stored original {sha} has been modified ({path})")
            continue
        # --no-copy items: check the sighted paths that are still reachable.
        reachable = list(store.copies(conn, sha))
        if not reachable:
            warnings.append(f"item {sha[:12]} was referenced, not copied; no copy is reachable")
        for p in reachable:
            checked += 1
            if sha256_file(p) != sha:
                problems.append(f"referenced original {p} no longer matches item {sha[:12]}")
    return checked, problems, warnings
