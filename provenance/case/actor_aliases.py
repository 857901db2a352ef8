"""Actors' former names (aliases) and merges, as the projections hold them."""

from __future__ import annotations

import sqlite3
from typing import Any


def _has_tables(conn: sqlite3.Connection) -> bool:
    return conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'actor_aliases'").fetchone() \
        is not None


def by_alias(conn: sqlite3.Connection, name: str) -> sqlite3.Row | None:
    """The actor that `name` was a former name of (renamed or merged), or None."""
    if not _has_tables(conn):
        return None
    return conn.execute(
        "SELECT a.* FROM actor_aliases x JOIN actors a ON a.id = x.actor"
        " WHERE x.alias = ? COLLATE NOCASE ORDER BY x.id DESC LIMIT 1", (name,)).fetchone()


def merged_into(conn: sqlite3.Connection, actor_id: int) -> int | None:
    """The actor this one was merged into, following merges of merges."""
    if not _has_tables(conn):
        return None
    seen = {actor_id}
    current = actor_id
    while True:
        row = conn.execute("SELECT into_actor FROM actor_merges WHERE actor = ?"
                           " ORDER BY id DESC LIMIT 1", (current,)).fetchone()
        if row is None or row[0] in seen:
            return None if current == actor_id else current
        current = int(row[0])
        seen.add(current)


def merged_ids(conn: sqlite3.Connection) -> set[int]:
    if not _has_tables(conn):
        return set()
    return {int(r[0]) for r in conn.execute("SELECT actor FROM actor_merges")}


def aliases(conn: sqlite3.Connection, actor_id: int) -> list[dict[str, Any]]:
    if not _has_tables(conn):
        return []
    return [dict(r) for r in conn.execute(
        "SELECT alias, how, recorded_at, recorded_by FROM actor_aliases WHERE actor = ?"
        " ORDER BY id", (actor_id,))]
