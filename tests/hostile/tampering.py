"""What the verify tests share: the database opened behind prov's back, verify's problems,
and a log of many small events."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from provenance.ledger import log
from provenance.ledger.db import open_db, transaction
from provenance.ledger.event import Event


def raw(db: Path) -> sqlite3.Connection:
    """The database as an attacker opens it: sqlite3 itself, autocommit, no prov."""
    return sqlite3.connect(db, isolation_level=None)


def verify_problems(prov: Any) -> list[str]:
    """The problems `prov verify --no-rehash` names; it must fail."""
    run = prov("verify", "--no-rehash", "--json")
    assert run.exit_code == 1, run.output
    return list(run.json()["problems"])


def forge(db: Path, event_type: str, item: str | None, data: dict[str, Any]) -> int:
    """An event appended with correct hashes but never applied, as an insider with the file
    could; its seq."""
    conn = raw(db)
    conn.row_factory = sqlite3.Row
    seq, previous = log.head(conn)
    event = Event(seq + 1, "2026-12-01T00:00:00.000000Z", "mallory", event_type, item, data)
    payload = log.canonical(event.envelope())
    leaf = log.leaf_hash(payload)
    conn.execute("INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                 (event.seq, event.recorded_at, "mallory", event_type, item, payload, leaf,
                  log.chain_hash(previous, leaf)))
    conn.close()
    return event.seq


def fill_actors(db: Path, actors: int, first: int = 0) -> None:
    """`actors` actor.created events (sources first..first+actors-1), one transaction."""
    conn = open_db(db, create=True)
    with transaction(conn):
        for n in range(first, first + actors):
            log.record(conn, "actor.created", {"name": f"source {n}", "kind": "account",
                                               "url": None, "note": None}, by="tester")
    conn.close()
