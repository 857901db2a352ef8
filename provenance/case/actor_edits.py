"""Renaming, merging and editing actors: each one event; former names stay as aliases."""

from __future__ import annotations

import sqlite3
from typing import Any

from provenance.case import actors
from provenance.case.actor_aliases import by_alias
from provenance.errors import UsageProblem
from provenance.ledger import log


def _taken(conn: sqlite3.Connection, name: str, actor_id: int) -> None:
    row = conn.execute("SELECT id, name FROM actors WHERE name = ? COLLATE NOCASE AND id != ?",
                       (name, actor_id)).fetchone()
    if row is not None:
        raise UsageProblem(f"actor {row['name']!r} (id {row['id']}) already has that name: if"
                           f" they are one, `prov actor merge` them")
    other = by_alias(conn, name)
    if other is not None and other["id"] != actor_id:
        raise UsageProblem(f"{name!r} is a former name of actor {other['name']!r}: choose"
                           " another name")


def rename(conn: sqlite3.Connection, current: str, new: str, *, by: str,
           reason: str | None = None) -> int:
    from provenance.ledger.db import transaction

    wanted = " ".join(new.split())
    if not wanted:
        raise UsageProblem("the new name cannot be empty")
    with transaction(conn):
        actor = actors.find(conn, current)
        if actor.name == wanted:
            raise UsageProblem(f"actor {actor.name!r} already has that name")
        _taken(conn, wanted, actor.id)
        data: dict[str, Any] = {"actor": actor.id, "name": wanted, "previous": actor.name}
        if reason and reason.strip():
            data["reason"] = reason.strip()
        return log.record(conn, "actor.renamed", data, by=by).seq


def merge(conn: sqlite3.Connection, gone: str, into: str, reason: str, *, by: str) -> tuple[
        int, str, str]:
    """Actor `gone` is `into` under another name: custody and claims naming it name `into`
    from now on, and its name stays an alias of `into`."""
    from provenance.case.corrections import need_reason
    from provenance.ledger.db import transaction

    why = need_reason(reason)
    with transaction(conn):
        a = actors.find(conn, gone)
        b = actors.find(conn, into)
        if a.id == b.id:
            raise UsageProblem(f"{gone!r} and {into!r} are the same actor ({b.name!r}): nothing"
                               " to merge")
        seq = log.record(conn, "actor.merged", {"actor": a.id, "into": b.id, "reason": why},
                         by=by).seq
    return seq, a.name, b.name


def edit(conn: sqlite3.Connection, name: str, changes: dict[str, str | None], *,
         by: str) -> int:
    from provenance.ledger.db import transaction

    given = {k: v for k, v in changes.items() if v is not None}
    if not given:
        raise UsageProblem("nothing to change: give --kind, --url or --note")
    if "kind" in given and given["kind"] not in actors.ACTOR_KINDS:
        raise UsageProblem(f"actor kind {given['kind']!r} is not one of:"
                           f" {', '.join(actors.ACTOR_KINDS)}")
    with transaction(conn):
        actor = actors.find(conn, name)
        data: dict[str, Any] = {"actor": actor.id,
                                **{k: (v or None) for k, v in given.items()}}
        return log.record(conn, "actor.edited", data, by=by).seq
