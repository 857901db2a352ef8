"""The fixity schedule: re-hashing stored originals on a schedule, each run recorded and sealed.

A scheduled `prov verify --rehash-older-than 90d` re-hashes only the stored originals with no
sound check recorded in the last 90 days. What it found goes into `fixity_checks`, one row per
original (not one event per original: a million-item archive would gain a million events per
run, and the log's replay cost with them); the rows of one run are sealed by a single
`fixity.checked` event holding their count and a digest, so a row added, edited or removed
afterwards is caught, and a schedule that relies on it is not fooled by it.
"""

from __future__ import annotations

import hashlib
import re
import sqlite3
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from provenance.errors import UsageProblem
from provenance.ledger import evidence, log
from provenance.ledger.db import transaction

EVENT = "fixity.checked"
_AGE = re.compile(r"^\s*(\d+)\s*([dw])\s*$")


def parse_age(text: str) -> int:
    """'90d' or '12w' as a number of days."""
    found = _AGE.match(text)
    if not found:
        raise UsageProblem(
            f"--rehash-older-than {text!r}: give an age in days or weeks, e.g. 90d or 12w")
    days = int(found.group(1)) * (7 if found.group(2) == "w" else 1)
    return days


def cutoff(days: int, now: datetime | None = None) -> str:
    """The recorded_at before which a check is too old, in the log's own time format."""
    moment = (now or datetime.now(UTC)) - timedelta(days=days)
    return moment.isoformat(timespec="microseconds").replace("+00:00", "Z")


def digest(rows: list[tuple[str, str]]) -> str:
    """SHA-256 over 'item result' lines in item order: what a fixity.checked event seals."""
    h = hashlib.sha256()
    for item, result in sorted(rows):
        h.update(f"{item} {result}\n".encode())
    return h.hexdigest()


def _rows_of(conn: sqlite3.Connection, seq: int) -> list[tuple[str, str]]:
    return [(str(r[0]), str(r[1])) for r in conn.execute(
        "SELECT item, result FROM fixity_checks WHERE event = ?", (seq,))]


def _seal_problem(conn: sqlite3.Connection, seq: int, data: dict[str, object]) -> str | None:
    rows = _rows_of(conn, seq)
    if len(rows) != data.get("originals") or digest(rows) != data.get("digest"):
        return (f"fixity checks of event {seq}: {len(rows)} row(s) in fixity_checks do not"
                f" match the {data.get('originals')} the event sealed (edited, added or removed)")
    return None


def check_sealed(conn: sqlite3.Connection, *, after: int = 0) -> list[str]:
    """Every fixity.checked event after `after` against its rows; rows no such event seals."""
    import json

    problems: list[str] = []
    for seq, payload in conn.execute(
            "SELECT seq, payload FROM events WHERE type = ? AND seq > ? ORDER BY seq",
            (EVENT, after)).fetchall():
        problem = _seal_problem(conn, int(seq), json.loads(payload)["data"])
        if problem:
            problems.append(problem)
    orphans = [int(r[0]) for r in conn.execute(
        "SELECT DISTINCT event FROM fixity_checks WHERE event NOT IN"
        " (SELECT seq FROM events WHERE type = ?) LIMIT 5", (EVENT,))]
    if orphans:
        problems.append(f"fixity_checks: rows name event(s) {', '.join(map(str, orphans))},"
                        " which are not fixity.checked events (inserted by hand)")
    return problems


@dataclass
class Due:
    """Stored originals to re-hash now, and problems found in the record relied upon."""

    items: list[tuple[str, int]] = field(default_factory=list)  # (sha256, size)
    problems: list[str] = field(default_factory=list)


def due(conn: sqlite3.Connection, days: int, now: datetime | None = None) -> Due:
    """Stored originals with no sound 'ok' check recorded in the last `days` days.

    Only runs whose seal holds count: a run whose rows were tampered with is reported and
    its originals are re-hashed again.
    """
    import json

    since = cutoff(days, now)
    result = Due()
    sound: list[int] = []
    for seq, payload in conn.execute(
            "SELECT seq, payload FROM events WHERE type = ? AND recorded_at >= ? ORDER BY seq",
            (EVENT, since)).fetchall():
        problem = _seal_problem(conn, int(seq), json.loads(payload)["data"])
        if problem:
            result.problems.append(problem)
        else:
            sound.append(int(seq))
    checked: set[str] = set()
    for start in range(0, len(sound), 500):
        part = sound[start:start + 500]
        marks = ", ".join("?" for _ in part)
        checked.update(str(r[0]) for r in conn.execute(
            f"SELECT item FROM fixity_checks WHERE result = 'ok' AND event IN ({marks})", part))
    result.items = [(str(r[0]), int(r[1])) for r in conn.execute(
        "SELECT sha256, size FROM items WHERE stored = 1 ORDER BY registered_event")
        if r[0] not in checked]
    return result


@dataclass
class Rehashed:
    results: list[tuple[str, str]] = field(default_factory=list)  # (sha256, 'ok' or damage)
    problems: list[str] = field(default_factory=list)


def rehash(conn: sqlite3.Connection, items: list[tuple[str, int]]) -> Rehashed:
    """Re-hash the named stored originals; a problem line for each that is not whole."""
    store = evidence.EvidenceStore.beside(conn)
    out = Rehashed()
    for sha, size in items:
        damage = store.damage(sha, size)
        out.results.append((sha, damage or "ok"))
        if damage == "missing":
            out.problems.append(f"stored original {sha} is missing from {store.path_of(sha)}")
        elif damage == "modified":
            out.problems.append(
                f"stored original {sha} has been modified ({store.path_of(sha)})")
        elif damage:
            out.problems.append(f"stored original {sha} is {damage} ({store.path_of(sha)})")
    return out


def record(conn: sqlite3.Connection, results: list[tuple[str, str]], *, days: int | None,
           by: str) -> int:
    """Write one run's rows and the fixity.checked event sealing them; return its seq."""
    with transaction(conn):
        seq = log.head(conn)[0] + 1  # the event recorded below, inside this transaction
        conn.executemany("INSERT INTO fixity_checks (item, event, result) VALUES (?, ?, ?)",
                         [(sha, seq, result) for sha, result in results])
        event = log.record(conn, EVENT, {
            "originals": len(results),
            "damaged": sum(1 for _, r in results if r != "ok"),
            "digest": digest(results),
            "older_than_days": days,
        }, by=by)
        if event.seq != seq:
            raise RuntimeError(f"fixity.checked landed at {event.seq}, expected {seq}")
    return seq
