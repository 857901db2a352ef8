"""Names, notes and tags given to items after registration, each one event."""

from __future__ import annotations

import re
import sqlite3
from typing import Any

from provenance.case import retracted
from provenance.errors import Ambiguous, UsageProblem
from provenance.ledger import log

# A name is a word or several joined by - _ . (any script); it must not read as a hash
# prefix, or `prov show cafe01` could mean two things.
_NAME = re.compile(r"^[^\W_][\w.-]{0,63}$")
_HEXISH = re.compile(r"^[0-9a-fA-F]+$")
_TAG = re.compile(r"^[^\W_][\w.:/-]{0,63}$")
_LIVE = "id NOT IN (SELECT event FROM retractions)"


def check_name(name: str) -> str:
    text = name.strip()
    if not _NAME.match(text):
        raise UsageProblem(f"{name!r} cannot be a name: use letters, digits and - _ . (up to 64,"
                           " starting with a letter or digit), e.g. arrival-clip")
    if _HEXISH.match(text):
        raise UsageProblem(f"{name!r} cannot be a name: it reads as a hash prefix; add a letter"
                           " beyond a-f or a hyphen (e.g. clip-{name})".replace("{name}", text))
    return text


def item_by_name(conn: sqlite3.Connection, name: str) -> str | None:
    """The item whose current name is `name` (ASCII letters case-insensitive), or None.
    Two items can carry one name only through a bundle imported from another database:
    then the name is refused as ambiguous, never resolved to one of them."""
    if not _has_tables(conn):
        return None
    rows = conn.execute(
        f"SELECT n.item FROM item_names n WHERE n.name = ? COLLATE NOCASE AND n.{_LIVE}"
        f" AND n.id = (SELECT MAX(m.id) FROM item_names m WHERE m.item = n.item AND m.{_LIVE})"
        " ORDER BY n.item", (name.strip(),)).fetchall()
    if len(rows) > 1:
        shas = [str(r[0]) for r in rows]
        raise Ambiguous(f"the name {name.strip()!r} is carried by {len(shas)} items (one came"
                        " in a bundle):\n  " + "\n  ".join(shas) + "\ngive a hash prefix, and"
                        " rename one of them with `prov name`", shas)
    return str(rows[0][0]) if rows else None


def current_name(conn: sqlite3.Connection, sha256: str) -> str | None:
    if not _has_tables(conn):
        return None
    row = conn.execute(f"SELECT name FROM item_names WHERE item = ? AND {_LIVE}"
                       " ORDER BY id DESC LIMIT 1", (sha256,)).fetchone()
    return str(row[0]) if row else None


def names_like(conn: sqlite3.Connection, text: str) -> list[str]:
    """Current names close to `text`, for a suggestion."""
    import difflib

    if not _has_tables(conn):
        return []
    live = sorted({str(r[0]) for r in conn.execute(
        f"SELECT n.name FROM item_names n WHERE n.{_LIVE} AND n.id ="
        f" (SELECT MAX(m.id) FROM item_names m WHERE m.item = n.item AND m.{_LIVE})")})
    return difflib.get_close_matches(text, live, n=5, cutoff=0.6)


def name_item(conn: sqlite3.Connection, sha256: str, name: str, *, by: str) -> int:
    from provenance.ledger.db import transaction

    wanted = check_name(name)
    with transaction(conn):
        holder = item_by_name(conn, wanted)
        if holder == sha256:
            raise UsageProblem(f"item {sha256[:12]} is already named {wanted!r}")
        if holder is not None:
            raise UsageProblem(f"the name {wanted!r} is taken by item {holder[:12]}: choose"
                               " another (names are unique within a database)")
        return log.record(conn, "item.named", {"name": wanted}, by=by, item=sha256).seq


def note_item(conn: sqlite3.Connection, sha256: str, text: str, *, by: str) -> int:
    from provenance.ledger.db import transaction

    if not text.strip():
        raise UsageProblem("a note cannot be empty")
    with transaction(conn):
        return log.record(conn, "item.noted", {"text": text}, by=by, item=sha256).seq


def check_tag(tag: str) -> str:
    text = tag.strip()
    if not _TAG.match(text):
        raise UsageProblem(f"{tag!r} cannot be a tag: use letters, digits and - _ . : / (up to"
                           " 64, no spaces), e.g. uniforms")
    return text


def tag_item(conn: sqlite3.Connection, sha256: str, tags: list[str], *, by: str) -> list[str]:
    """Add each tag the item does not carry yet (one event per tag); the tags added."""
    from provenance.ledger.db import transaction

    wanted = [check_tag(t) for t in tags]
    if not wanted:
        raise UsageProblem("give at least one tag")
    have = {t.casefold() for t in tags_of(conn, sha256)}
    added = []
    with transaction(conn):
        for tag in wanted:
            if tag.casefold() in have:
                continue
            have.add(tag.casefold())
            log.record(conn, "item.tagged", {"tag": tag}, by=by, item=sha256)
            added.append(tag)
    return added


def untag_item(conn: sqlite3.Connection, sha256: str, tags: list[str], *, by: str) -> list[str]:
    from provenance.ledger.db import transaction

    wanted = [check_tag(t) for t in tags]
    have = {t.casefold(): t for t in tags_of(conn, sha256)}
    missing = [t for t in wanted if t.casefold() not in have]
    if missing:
        raise UsageProblem(f"item {sha256[:12]} has no tag {missing[0]!r}; its tags:"
                           f" {', '.join(sorted(have.values())) or 'none'}")
    with transaction(conn):
        for tag in dict.fromkeys(have[t.casefold()] for t in wanted):
            log.record(conn, "item.untagged", {"tag": tag}, by=by, item=sha256)
    return wanted


def tags_of(conn: sqlite3.Connection, sha256: str) -> list[str]:
    if not _has_tables(conn):
        return []
    return [str(r[0]) for r in conn.execute(
        f"SELECT tag FROM item_tags WHERE item = ? AND removed_by IS NULL AND {_LIVE}"
        " ORDER BY id", (sha256,))]


def labels(conn: sqlite3.Connection, sha256: str) -> dict[str, Any]:
    """The item's name, its naming history, tags (with history) and notes, each entry
    carrying whether it was retracted."""
    if not _has_tables(conn):
        return {"name": None, "names": [], "tags": [], "tag_history": [], "notes": []}
    names = [dict(r) for r in conn.execute(
        "SELECT id, name, recorded_at, recorded_by FROM item_names WHERE item = ? ORDER BY id",
        (sha256,))]
    history = [dict(r) for r in conn.execute(
        "SELECT id, tag, removed_by, recorded_at, recorded_by FROM item_tags WHERE item = ?"
        " ORDER BY id", (sha256,))]
    notes = [dict(r) for r in conn.execute(
        "SELECT id, text, recorded_at, recorded_by FROM item_notes WHERE item = ? ORDER BY id",
        (sha256,))]
    for rows in (names, history, notes):
        retracted.annotate(conn, rows)
    return {"name": current_name(conn, sha256), "names": names,
            "tags": tags_of(conn, sha256), "tag_history": history, "notes": notes}


def _has_tables(conn: sqlite3.Connection) -> bool:
    return conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'item_names'").fetchone() \
        is not None
