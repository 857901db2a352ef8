"""Actors: the organisations, people, accounts and platforms custody and claims name."""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from provenance.errors import Ambiguous, NotFound, UsageProblem
from provenance.ledger import log

if TYPE_CHECKING:
    pass

ACTOR_KINDS = ("organisation", "person", "account", "platform", "unknown")


@dataclass(frozen=True)
class Actor:
    id: int
    name: str
    kind: str
    url: str | None = None
    note: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "kind": self.kind, "url": self.url,
                "note": self.note}


def _normal(name: str) -> str:
    return " ".join(name.split())


def _words(name: str) -> set[str]:
    return set(re.findall(r"\w+", name.casefold()))


def _row(row: sqlite3.Row) -> Actor:
    return Actor(row["id"], row["name"], row["kind"], row["url"], row["note"])


def get(conn: sqlite3.Connection, actor_id: int | None) -> Actor | None:
    if actor_id is None:
        return None
    row = conn.execute("SELECT * FROM actors WHERE id = ?", (actor_id,)).fetchone()
    return _row(row) if row else None


def find(conn: sqlite3.Connection, name: str) -> Actor:
    """The actor called `name` (case-insensitive); refuse a near miss with the candidates."""
    wanted = _normal(name)
    if not wanted:
        raise UsageProblem("an actor name cannot be empty")
    row = conn.execute("SELECT * FROM actors WHERE name = ? COLLATE NOCASE", (wanted,)).fetchone()
    if row is not None:
        return _current(conn, _row(row))
    from provenance.case import actor_aliases

    aliased = actor_aliases.by_alias(conn, wanted)
    if aliased is not None:
        return _current(conn, _row(aliased))
    candidates = _similar(conn, wanted)
    if candidates:
        names = [f"{a.name} ({a.kind})" for a in candidates]
        raise Ambiguous(
            f"actor {wanted!r} is not known, but these are close:\n  " + "\n  ".join(names)
            + f"\nuse one of those names, or `prov actor add {wanted!r}` to create a new actor",
            names,
        )
    raise NotFound(f"no actor {wanted!r}: `prov actor add` creates one, `prov actor list` lists")


def _current(conn: sqlite3.Connection, actor: Actor) -> Actor:
    """The actor itself, or the one it was merged into (`prov actor merge`)."""
    from provenance.case import actor_aliases

    into = actor_aliases.merged_into(conn, actor.id)
    return actor if into is None else (get(conn, into) or actor)


def _similar(conn: sqlite3.Connection, name: str) -> list[Actor]:
    """Actors whose names contain all the words of `name`, or whose words `name` contains."""
    words = _words(name)
    if not words:
        return []
    out = []
    from provenance.case import actor_aliases

    merged = actor_aliases.merged_ids(conn)
    for row in conn.execute("SELECT * FROM actors ORDER BY id"):
        theirs = _words(row["name"])
        if row["id"] not in merged and (words <= theirs or theirs <= words):
            out.append(_row(row))
    return out


def create(
    conn: sqlite3.Connection,
    name: str,
    *,
    by: str,
    kind: str = "unknown",
    url: str | None = None,
    note: str | None = None,
) -> Actor:
    """Record a new actor. Must run inside a write transaction."""
    wanted = _normal(name)
    if not wanted:
        raise UsageProblem("an actor name cannot be empty")
    if kind not in ACTOR_KINDS:
        raise UsageProblem(f"actor kind {kind!r} is not one of: {', '.join(ACTOR_KINDS)}")
    existing = conn.execute(
        "SELECT * FROM actors WHERE name = ? COLLATE NOCASE", (wanted,)
    ).fetchone()
    if existing is not None:
        raise UsageProblem(f"actor {existing['name']!r} already exists (id {existing['id']}):"
                           f" `prov actor edit {existing['name']!r}` changes its kind, URL or"
                           " note")
    from provenance.case import actor_aliases

    aliased = actor_aliases.by_alias(conn, wanted)
    if aliased is not None:
        raise UsageProblem(f"{wanted!r} is a former name of actor {aliased['name']!r} (id"
                           f" {aliased['id']}): use that actor, or `prov actor edit` it")
    event = log.record(conn, "actor.created", {"name": wanted, "kind": kind, "url": url,
                                               "note": note}, by=by)
    return Actor(event.seq, wanted, kind, url, note)


def resolve_or_create(
    conn: sqlite3.Connection, name: str, *, by: str, notices: list[str]
) -> Actor:
    """An existing actor by name, or a new one created on first use (with a notice).

    A name close to existing ones (same words, fewer or more) is refused with the
    candidates rather than guessed: "CSCIS" and "Ukrainian CSCIS" may or may not be
    the same organisation, and only the investigator knows.
    """
    try:
        return find(conn, name)
    except NotFound:
        actor = create(conn, name, by=by)
        notices.append(
            f"created actor {actor.name!r} (kind unknown; `prov actor edit {actor.name!r}"
            " --kind organisation|person|account|platform` sets its kind, --url and --note"
            " the rest; `prov actor merge` if it is an actor already known by another name)"
        )
        return actor


def list_actors(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    """Every actor with its counts, its former names (aliases) and, for one merged into
    another, which."""
    from provenance.case import actor_aliases

    rows = conn.execute(
        "SELECT a.*, (SELECT COUNT(*) FROM custody c WHERE c.from_actor = a.id"
        " OR c.to_actor = a.id OR c.asserted_by = a.id) AS custody_events,"
        " (SELECT COUNT(*) FROM claims k WHERE k.claimant = a.id) AS claims"
        " FROM actors a ORDER BY a.name COLLATE NOCASE"
    )
    out = [dict(r) for r in rows]
    for a in out:
        a["aliases"] = actor_aliases.aliases(conn, a["id"])
        a["merged_into"] = actor_aliases.merged_into(conn, a["id"])
    return out
