"""The append-only, hash-chained event log: recording events and checking the chain."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from provenance.ledger import canonical as jcs
from provenance.ledger import projection
from provenance.ledger.db import database_id, now_utc
from provenance.ledger.event import Event

# Domain separation: a leaf hash can never be confused with a chain hash or
# the genesis, whatever bytes an attacker chooses for a payload.
LEAF_PREFIX = b"prov:event:v1\x00"
CHAIN_PREFIX = b"prov:chain:v1\x00"
GENESIS_PREFIX = b"prov:genesis:v1\x00"


def canonical(value: Any) -> str:
    """RFC 8785 canonical JSON: the same event always serialises to the same bytes.

    ledger/canonical.py writes the reference `rfc8785` package's bytes, several times faster.
    """
    return jcs.dumps(value)


def leaf_hash(payload: str) -> str:
    return hashlib.sha256(LEAF_PREFIX + payload.encode("utf-8")).hexdigest()


def chain_hash(previous: str, leaf: str) -> str:
    return hashlib.sha256(CHAIN_PREFIX + bytes.fromhex(previous) + bytes.fromhex(leaf)).hexdigest()


def genesis(db_id: str) -> str:
    """The chain's starting point, bound to this database so logs cannot be swapped."""
    return hashlib.sha256(GENESIS_PREFIX + db_id.encode("utf-8")).hexdigest()


def head(conn: sqlite3.Connection) -> tuple[int, str]:
    """(number of events, chain hash of the last one or the genesis)."""
    row = conn.execute("SELECT seq, chain_hash FROM events ORDER BY seq DESC LIMIT 1").fetchone()
    if row is None:
        return 0, genesis(database_id(conn))
    return int(row["seq"]), str(row["chain_hash"])


def record(
    conn: sqlite3.Connection,
    type: str,
    data: dict[str, Any],
    *,
    by: str,
    item: str | None = None,
    at: str | None = None,
) -> Event:
    """Append one event and apply it to the projections.

    Must run inside `store.transaction`: the event and its effect commit together
    or not at all.
    """
    if not conn.in_transaction:
        raise RuntimeError("log.record must run inside a write transaction")
    seq, previous = head(conn)
    event = Event(seq + 1, at or now_utc(), by, type, item, data)
    payload = canonical(event.envelope())
    leaf = leaf_hash(payload)
    conn.execute(
        "INSERT INTO events (seq, recorded_at, recorded_by, type, item, payload, leaf_hash,"
        " chain_hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (event.seq, event.recorded_at, by, type, item, payload, leaf, chain_hash(previous, leaf)),
    )
    # Apply what the log will say on replay (canonical JSON turns 112.0 into
    # 112, for one), so the live projection and a rebuilt one cannot differ.
    stored = json.loads(payload)
    event = Event(event.seq, event.recorded_at, by, type, item, stored["data"])
    projection.apply(conn, event)
    return event


def event_from_row(row: sqlite3.Row) -> Event:
    body = json.loads(row["payload"])
    return Event(
        seq=body["seq"],
        recorded_at=body["recorded_at"],
        recorded_by=body["recorded_by"],
        type=body["type"],
        item=body["item"],
        data=body["data"],
    )


def events(conn: sqlite3.Connection, item: str | None = None) -> list[dict[str, Any]]:
    """Events as plain dicts, oldest first; with `item`, those that concern it."""
    if item is None:
        rows = conn.execute("SELECT * FROM events ORDER BY seq").fetchall()
    else:
        rows = conn.execute(
            "SELECT * FROM events WHERE item = ? OR seq IN"
            " (SELECT id FROM near_duplicates WHERE other = ?) ORDER BY seq",
            (item, item),
        ).fetchall()
    out = []
    for row in rows:
        body = json.loads(row["payload"])
        out.append(
            {
                "seq": row["seq"],
                "recorded_at": row["recorded_at"],
                "recorded_by": row["recorded_by"],
                "type": row["type"],
                "item": row["item"],
                "data": body.get("data"),
                "leaf_hash": row["leaf_hash"],
                "chain_hash": row["chain_hash"],
            }
        )
    return out


@dataclass
class ChainReport:
    events: int
    head: str
    problems: list[str]
    replayed: list[Event]


def check_chain(
    conn: sqlite3.Connection, *, after: int = 0, previous: str | None = None,
    on_event: Callable[[Event], None] | None = None,
) -> ChainReport:
    """Recompute every hash in order; report the first break and what follows from it.

    With `after` and `previous` (a checkpoint's length and head), only the events after it.
    With `on_event`, each sound event is handed to it as it is read instead of being kept
    in `replayed` (a million-event log does not fit in memory as Event objects).
    """
    problems: list[str] = []
    if previous is None:
        previous = genesis(database_id(conn))
    expected_seq = after + 1
    good: list[Event] = []
    broken = False
    count = 0
    # Plain tuples (not sqlite3.Row) and bytes kept between events: this loop runs once per
    # event of a million-event log.
    cursor = conn.cursor()
    cursor.row_factory = None
    rows = cursor.execute(
        "SELECT seq, recorded_at, recorded_by, type, item, payload, leaf_hash, chain_hash"
        " FROM events WHERE seq > ? ORDER BY seq", (after,))
    previous_bytes = bytes.fromhex(previous)
    for seq, recorded_at, recorded_by, type_, item, payload, stored_leaf, stored_chain in rows:
        count += 1
        if broken:
            continue
        if seq != expected_seq:
            problems.append(
                f"event {expected_seq} is missing: the log jumps from {expected_seq - 1} to {seq}"
                " (deleted events)"
            )
            broken = True
            continue
        try:
            body = jcs.loads(payload)  # refuses a payload that is not canonical JSON
            event = Event(seq=body["seq"], recorded_at=body["recorded_at"],
                          recorded_by=body["recorded_by"], type=body["type"],
                          item=body["item"], data=body["data"])
        except (ValueError, KeyError, TypeError) as exc:
            problems.append(f"event {seq}: payload is unreadable ({exc})")
            broken = True
            continue
        leaf = hashlib.sha256(LEAF_PREFIX + payload.encode("utf-8")).digest()
        if leaf.hex() != stored_leaf:
            problems.append(
                f"event {seq} ({type_}): payload does not match its hash (edited)"
            )
            broken = True
            continue
        link = hashlib.sha256(CHAIN_PREFIX + previous_bytes + leaf).hexdigest()
        if link != stored_chain:
            problems.append(
                f"event {seq} ({type_}): chain hash does not follow from event {seq - 1}"
                " (events rewritten or reordered)"
            )
            broken = True
            continue
        if (recorded_at, recorded_by, type_, item) != (
                event.recorded_at, event.recorded_by, event.type, event.item) \
                or body.get("seq") != seq:
            mismatched = [
                column
                for column, have, value in (
                    ("recorded_at", recorded_at, event.recorded_at),
                    ("recorded_by", recorded_by, event.recorded_by),
                    ("type", type_, event.type),
                    ("item", item, event.item),
                )
                if have != value
            ]
            problems.append(
                f"event {seq}: columns {', '.join(mismatched) or 'seq'} disagree with its payload"
            )
            broken = True
            continue
        previous, previous_bytes = stored_chain, bytes.fromhex(stored_chain)
        if on_event is None:
            good.append(event)
        else:
            on_event(event)
        expected_seq += 1
    return ChainReport(events=count, head=previous, problems=problems, replayed=good)
