"""`prov verify --since CHECKPOINT`: what changed after a checkpoint, checked without a full replay.

Guarantees, and how each is kept cheap on a million-item archive:
- the log still extends the checkpoint: the event it ends at still has its chain hash (so a
  history rewritten consistently, or cut, fails), and the events after it follow from it.
  With `full_chain`, the log up to the checkpoint is also re-hashed from its payloads
  (hashing only, no JSON parsing; a payload edited without its hashes fails) and the columns
  repeating the payload are compared inside SQLite: a read of the whole log, so optional;
- the events after it are checked as a full verify checks them, and replayed together with
  the earlier history of every item they touch; the table rows they produce or change are
  compared with that replay;
- every projection table keyed by event has as many rows as there are events of its type,
  with the same sum of keys (index-only reads), so rows inserted or deleted by hand anywhere
  are caught and then named.
Not covered: an edit of a column of a row that no event after the checkpoint touches, hash
rows of such items, or (without `full_chain`) a payload edited before the checkpoint with
its hashes left alone. A full `prov verify` (the default) catches all of these; run it on a
schedule too.
"""

from __future__ import annotations

import hashlib
import sqlite3
from typing import Any

from provenance.ledger import log, projection
from provenance.ledger.event import Event

# The projection tables whose rows are keyed by the seq of the event creating them.
CREATED_BY = {
    "sightings": "sighting.recorded",
    "custody": "custody.recorded",
    "claims": "claim.recorded",
    "claim_reviews": "claim.reviewed",
    "actors": "actor.created",
    "near_duplicates": "near_duplicate.found",
    "timestamps": "checkpoint.timestamped",
}


def prefix_problems(conn: sqlite3.Connection, events: int, head: str) -> list[str]:
    """Recompute the chain of the first `events` events; it must end at `head`."""
    if events == 0:
        return []
    previous = bytes.fromhex(log.genesis(_db_id(conn)))
    expected = 1
    sha = hashlib.sha256
    leaf_prefix, chain_prefix = log.LEAF_PREFIX, log.CHAIN_PREFIX
    for seq, payload, leaf_hex, chain_hex in conn.execute(
            "SELECT seq, payload, leaf_hash, chain_hash FROM events WHERE seq <= ?"
            " ORDER BY seq", (events,)):
        if seq != expected:
            return [f"event {expected} is missing: the log jumps from {expected - 1} to {seq}"
                    " (deleted events, before the checkpoint)"]
        leaf = sha(leaf_prefix + payload.encode("utf-8")).digest()
        if leaf.hex() != leaf_hex:
            return [f"event {seq}: payload does not match its hash (edited, before the"
                    " checkpoint)"]
        chain = sha(chain_prefix + previous + leaf).digest()
        if chain.hex() != chain_hex:
            return [f"event {seq}: chain hash does not follow from event {seq - 1}"
                    " (events rewritten or reordered, before the checkpoint)"]
        previous = chain
        expected += 1
    if previous.hex() != head:
        return [f"history rewritten: event {events}'s chain hash differs from the checkpoint"]
    # The columns that repeat the payload (queries use them): compared inside SQLite.
    row = conn.execute(
        "SELECT seq FROM events WHERE seq <= ? AND ("
        " json_extract(payload, '$.seq') IS NOT seq"
        " OR json_extract(payload, '$.type') IS NOT type"
        " OR json_extract(payload, '$.item') IS NOT item"
        " OR json_extract(payload, '$.recorded_at') IS NOT recorded_at"
        " OR json_extract(payload, '$.recorded_by') IS NOT recorded_by) LIMIT 1",
        (events,)).fetchone()
    if row is not None:
        return [f"event {row[0]}: columns disagree with its payload (before the checkpoint)"]
    return []


def _db_id(conn: sqlite3.Connection) -> str:
    from provenance.ledger.db import database_id

    return database_id(conn)


def touched_problems(conn: sqlite3.Connection, after: int, new: list[Event],
                     statements: list[str]) -> tuple[list[str], int]:
    """Replay the new events with the earlier history of the items they touch; compare the
    rows that replay produces, and every row created after the checkpoint. Also returns how
    many events were replayed."""
    items = sorted({e.item for e in new if e.item})
    history: dict[int, Event] = {e.seq: e for e in new}
    for start in range(0, len(items), 500):
        part = items[start:start + 500]
        marks = ", ".join("?" for _ in part)
        for row in conn.execute(
                f"SELECT * FROM events WHERE item IN ({marks}) AND seq <= ?", (*part, after)):
            history[row["seq"]] = log.event_from_row(row)
    # Events about no item (actors created, renamed and merged; incidents and their
    # relations; stamps) are what later events of any item may build on: replayed whole.
    # They are few beside the items' events (an archive names hundreds of actors, not
    # millions), so this stays cheap.
    for row in conn.execute("SELECT * FROM events WHERE item IS NULL AND seq <= ?", (after,)):
        history[row["seq"]] = log.event_from_row(row)
    try:
        rebuilt = projection.replay([history[s] for s in sorted(history)], statements)
    except (sqlite3.DatabaseError, KeyError, ValueError, TypeError) as exc:
        return [f"the events after the checkpoint cannot be replayed: {exc}"], len(history)
    actual = sqlite3.connect(":memory:")
    try:
        for statement in statements:
            actual.execute(statement)
        for table in projection.PROJECTION_TABLES:
            _copy_subset(conn, rebuilt, actual, table, after, items)
        return projection.compare(actual, rebuilt), len(history)
    finally:
        rebuilt.close()
        actual.close()


def _copy_subset(live: sqlite3.Connection, rebuilt: sqlite3.Connection,
                 into: sqlite3.Connection, table: str, after: int, items: list[str]) -> None:
    """Copy into `into` the live rows the replay speaks for: those it produced (same key),
    those of the touched items, and every row created after the checkpoint."""
    columns = [str(r[1]) for r in rebuilt.execute(f"PRAGMA table_info({table})")]
    names = ", ".join(columns)
    marks = ", ".join("?" for _ in columns)
    if table == "hashes":
        # Hash rows are numbered in the order they were inserted; the replay numbers the
        # touched items' rows from 1 in that same order, so the live ones are renumbered too.
        rows: list[Any] = []
        for start in range(0, len(items), 500):
            part = items[start:start + 500]
            rows += live.execute(f"SELECT {names} FROM hashes WHERE item IN"
                                 f" ({', '.join('?' for _ in part)})", part).fetchall()
        for number, row in enumerate(sorted(rows, key=lambda r: r[0]), start=1):
            into.execute(f"INSERT INTO hashes ({names}) VALUES ({marks})", (number, *row[1:]))
        return
    key = columns[0]
    keys = [r[0] for r in rebuilt.execute(f"SELECT {key} FROM {table}")]
    conditions: list[tuple[str, list[Any]]] = []
    for start in range(0, len(keys), 500):
        part = keys[start:start + 500]
        conditions.append((f"{key} IN ({', '.join('?' for _ in part)})", part))
    if "item" in columns:
        for start in range(0, len(items), 500):
            part = items[start:start + 500]
            conditions.append((f"item IN ({', '.join('?' for _ in part)})", part))
    if table == "items":
        conditions.append(("registered_event > ?", [after]))
    elif key == "id":
        conditions.append(("id > ?", [after]))
    seen: set[Any] = set()
    for where, params in conditions:
        try:
            rows = live.execute(f"SELECT {names} FROM {table} WHERE {where}", params).fetchall()
        except sqlite3.DatabaseError:
            continue  # an unreadable table is reported by the set checks
        for row in rows:
            if row[0] in seen:
                continue
            seen.add(row[0])
            into.execute(f"INSERT INTO {table} ({names}) VALUES ({marks})", tuple(row))


def row_set_problems(conn: sqlite3.Connection) -> list[str]:
    """Rows with no event of their type, and events with no row, across whole tables.

    Cheap first: per table, the count and the sum of the keys (index-only reads) against the
    events of its type; only a table that disagrees is compared row by row, to name the rows.
    """
    problems: list[str] = []
    try:
        by_type = {str(r[0]): (int(r[1]), float(r[2])) for r in conn.execute(
            "SELECT type, COUNT(*), TOTAL(seq) FROM events GROUP BY type")}
        for table, etype, key in [*((t, e, "id") for t, e in CREATED_BY.items()),
                                  ("items", "item.registered", "registered_event")]:
            count, total = conn.execute(f"SELECT COUNT(*), TOTAL({key}) FROM {table}").fetchone()
            if (int(count), float(total)) == by_type.get(etype, (0, 0.0)):
                continue
            extra = [r[0] for r in conn.execute(
                f"SELECT {key} FROM {table} EXCEPT SELECT seq FROM events WHERE type = ?"
                " LIMIT 5", (etype,))]
            missing = [r[0] for r in conn.execute(
                f"SELECT seq FROM events WHERE type = ? EXCEPT SELECT {key} FROM {table}"
                " LIMIT 5", (etype,))]
            problems += [f"table {table}: row {k} is not in the log (inserted by hand)"
                         for k in extra]
            problems += [f"table {table}: row {k} is missing (the log records it)"
                         for k in missing]
            if not extra and not missing:
                problems.append(f"table {table}: its rows do not match the {etype} events"
                                " (keys repeated or changed)")
    except sqlite3.DatabaseError as exc:
        problems.append(f"projection tables unreadable ({exc})")
    return problems
