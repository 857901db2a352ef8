"""`prov dupes`: every near-duplicate family, its earliest known copy first."""

from __future__ import annotations

import json
import sqlite3
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from provenance.case.items import first_name_sql
from provenance.case.when import When, capture_when, parse_when
from provenance.errors import BadInput


@dataclass(frozen=True)
class Evidence:
    """The date that places one copy earliest, and what records it."""

    when: When
    source: str  # "capture time", "custody" or "first sighting"
    shown: str | None = None  # the value as stored, when it differs from when.display()

    def to_json(self) -> dict[str, Any]:
        reading = self.when.reading()
        return {**reading, "display": self.shown or reading["display"], "source": self.source}


# Only items in some near-duplicate relation belong to a family: their dates alone are read
# (parsing every item's dates cost `prov dupes` 45 s of a 1,000,000-item database).
_RELATED = "(SELECT item FROM near_duplicates UNION SELECT other FROM near_duplicates)"


def _earliest(conn: sqlite3.Connection) -> dict[str, Evidence]:
    """Per related item: its earliest dated fact (capture, custody or sighting), ordered as
    the timeline orders, by the middle of each date's interval (When.order_key)."""
    out: dict[str, Evidence] = {}

    def offer(sha: str, when: When | None, source: str, shown: str | None = None) -> None:
        if when is not None and (sha not in out or when.order_key() < out[sha].when.order_key()):
            out[sha] = Evidence(when, source, shown)

    for sha, first in conn.execute(
            f"SELECT item, MIN(recorded_at) FROM sightings WHERE item IN {_RELATED}"
            " GROUP BY item"):
        try:
            offer(sha, parse_when(first), "first sighting", first)
        except BadInput:
            continue
    for sha, text, approximate in conn.execute(
            "SELECT item, at_text, at_approximate FROM custody WHERE at_text IS NOT NULL"
            f" AND item IN {_RELATED}"):
        try:
            offer(sha, parse_when(text, approximate=bool(approximate)), "custody")
        except BadInput:
            continue
    for sha, captured, offset in conn.execute(
            "SELECT sha256, captured_at, captured_offset FROM items"
            f" WHERE captured_at IS NOT NULL AND sha256 IN {_RELATED}"):
        when = capture_when(captured, offset)
        inferred = when is not None and not when.local_only and capture_when(captured) != when
        # Say so when the zone is prov's inference (GPS time), not the file's own record.
        offer(sha, when, "capture time, zone inferred" if inferred else "capture time")
    return out


def _key(evidence: Evidence | None) -> tuple[int, Any]:
    return (0, evidence.when.order_key()) if evidence else (1, ())


def families(conn: sqlite3.Connection, *, include_withdrawn: bool = False
             ) -> list[dict[str, Any]]:
    """Re-upload families, then families that share only their sound ("same audio": a
    picture re-upload and a re-used sound track are different claims, never one family).
    Withdrawn items (`prov retract ITEM`) are left out unless asked for."""
    from provenance.case.retracted import withdrawn_items

    earliest = _earliest(conn)
    leave_out = set() if include_withdrawn else withdrawn_items(conn)
    return (_families(conn, "re-upload", earliest, leave_out)
            + _families(conn, "same audio", earliest, leave_out))


def _families(conn: sqlite3.Connection, verdict: str,
              earliest: dict[str, Evidence], leave_out: set[str]) -> list[dict[str, Any]]:
    """Families of one kind of relation from the recorded relations, guarded against chaining.

    Connected components alone would join two unrelated photos through a collage
    or a heavily edited intermediate. So each component is split: its earliest
    copy founds a family of the members directly related to it, and the rest
    are grouped again the same way.
    """
    edges: dict[str, set[str]] = defaultdict(set)
    evidence: dict[tuple[str, str], dict[str, Any]] = {}
    for item, other, algorithm, distance, detail in conn.execute(
            "SELECT item, other, algorithm, distance, detail_json FROM near_duplicates"
            " WHERE verdict = ?", (verdict,)):
        if item in leave_out or other in leave_out:
            continue
        edges[item].add(other)
        edges[other].add(item)
        evidence[(item, other)] = evidence[(other, item)] = {
            "algorithm": algorithm, "distance": distance, **json.loads(detail)}
    seen: set[str] = set()
    out: list[dict[str, Any]] = []
    for start in sorted(edges):
        if start in seen:
            continue
        component, stack = set(), [start]
        while stack:
            node = stack.pop()
            if node in component:
                continue
            component.add(node)
            stack.extend(edges[node] - component)
        seen |= component
        remaining = sorted(component, key=lambda s: (_key(earliest.get(s)), s))
        while remaining:
            root = remaining[0]
            members = [root] + [s for s in remaining[1:] if s in edges[root]]
            remaining = [s for s in remaining if s not in members]
            if len(members) < 2:
                continue
            out.append({**_family(conn, root, members, earliest, evidence),
                        "relation": verdict})
    out.sort(key=lambda f: _key(earliest.get(f["earliest"])))
    return out


def _family(conn: sqlite3.Connection, root: str, members: list[str],
            earliest: dict[str, Evidence],
            evidence: dict[tuple[str, str], dict[str, Any]]) -> dict[str, Any]:
    rows = []
    for sha in members:
        item = conn.execute(
            f"SELECT kind, {first_name_sql()} AS file_name FROM items i WHERE sha256 = ?",
            (sha,)
        ).fetchone()
        dated = earliest.get(sha)
        # earliest_at stays the interval's earliest UTC instant, as before; earliest_when
        # carries the date as recorded, its precision and its whole interval.
        rows.append({"sha256": sha, "kind": item["kind"], "file_name": item["file_name"],
                     "earliest_at": dated.when.earliest().isoformat() if dated else None,
                     "earliest_source": dated.source if dated else None,
                     "earliest_when": dated.to_json() if dated else None,
                     "relation_to_earliest": None if sha == root else evidence.get((sha, root))})
    first = earliest.get(root)
    # A member whose date overlaps the first's (or is undated) may be as early: say so.
    uncertain = [sha for sha in members[1:] if first is None or sha not in earliest
                 or earliest[sha].when.overlaps(first.when)]
    return {"earliest": root, "earliest_at": rows[0]["earliest_at"],
            "earliest_when": rows[0]["earliest_when"], "order_uncertain": uncertain,
            "size": len(rows), "members": rows}
