"""Projections: how each event type changes the browsable tables, and replaying the log."""

from __future__ import annotations

import importlib
import sqlite3
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .log import Event

Applier = Callable[[sqlite3.Connection, "Event"], None]

_APPLIERS: dict[str, Applier] = {}

# Modules that register appliers. Imported on first use so that importing the
# log does not import every concern (and `prov --help` stays fast).
APPLIER_MODULES = (
    "provenance.registry",
    "provenance.actors",
    "provenance.custody",
    "provenance.claims",
    "provenance.relations",
)

# Every table rebuilt from the log, with the columns that order its rows.
PROJECTION_TABLES: dict[str, str] = {
    "items": "sha256",
    "sightings": "id",
    "hashes": "item, algorithm, region, frame_seconds, page, value",
    "near_duplicates": "id",
    "actors": "id",
    "custody": "id",
    "claims": "id",
    "claim_reviews": "id",
}


def applies(event_type: str) -> Callable[[Applier], Applier]:
    """Register the function that applies events of `event_type` to the projections."""

    def decorate(fn: Applier) -> Applier:
        _APPLIERS[event_type] = fn
        return fn

    return decorate


def attribution(event: Event) -> tuple[str, str]:
    """(recorded_at, recorded_by) as the original recorder had them.

    An event imported from another investigator's bundle keeps their attribution
    in the tables; who imported it, and when, stays in the log.
    """
    origin = event.data.get("imported_from")
    if isinstance(origin, dict) and origin.get("recorded_by"):
        return str(origin["recorded_at"]), str(origin["recorded_by"])
    return event.recorded_at, event.recorded_by


def _load() -> None:
    for name in APPLIER_MODULES:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise


def apply(conn: sqlite3.Connection, event: Event) -> None:
    if event.type not in _APPLIERS:
        _load()
    try:
        fn = _APPLIERS[event.type]
    except KeyError:
        raise ValueError(f"event {event.seq}: unknown event type {event.type!r}") from None
    fn(conn, event)


def replay(events: Iterable[Event], schema_statements: list[str]) -> sqlite3.Connection:
    """Build the projections afresh in memory from the given events."""
    conn = sqlite3.connect(":memory:", isolation_level=None)
    conn.row_factory = sqlite3.Row
    for statement in schema_statements:
        conn.execute(statement)
    # Triggers on the log do not matter here: replay writes projections only.
    conn.execute("BEGIN")
    for event in events:
        apply(conn, event)
    conn.execute("COMMIT")
    return conn


def _rows(conn: sqlite3.Connection, table: str, order: str) -> list[tuple[Any, ...]]:
    columns = [r[1] for r in conn.execute(f"PRAGMA table_info({table})")]
    query = f"SELECT {', '.join(columns)} FROM {table} ORDER BY {order}"
    return [tuple(r) for r in conn.execute(query)]


def compare(actual: sqlite3.Connection, expected: sqlite3.Connection) -> list[str]:
    """Describe every projection row that differs from what the log says."""
    problems: list[str] = []
    for table, order in PROJECTION_TABLES.items():
        columns = [r[1] for r in expected.execute(f"PRAGMA table_info({table})")]
        try:
            have = _rows(actual, table, order)
        except sqlite3.DatabaseError as exc:
            problems.append(f"table {table}: unreadable ({exc})")
            continue
        want = _rows(expected, table, order)
        key = 0
        have_by_key = {row[key]: row for row in have}
        want_by_key = {row[key]: row for row in want}
        if table == "hashes":
            # Hash rows have no natural single key; compare as multisets.
            extra = len(set(have) - set(want))
            missing = len(set(want) - set(have))
            if extra or missing or len(have) != len(want):
                problems.append(
                    f"table hashes: {extra} row(s) not in the log, {missing} row(s) missing"
                )
            continue
        for k, row in want_by_key.items():
            if k not in have_by_key:
                problems.append(f"table {table}: row {k} is missing (the log records it)")
                continue
            other = have_by_key[k]
            for name, a, b in zip(columns, other, row, strict=True):
                if a != b:
                    problems.append(
                        f"table {table}: row {k} column {name} is {_clip(a)}, the log says"
                        f" {_clip(b)}"
                    )
        for k in have_by_key.keys() - want_by_key.keys():
            problems.append(f"table {table}: row {k} is not in the log (inserted by hand)")
    return problems


def _clip(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"
