"""`prov dupes`: every near-duplicate family, its earliest known copy first."""

from __future__ import annotations

import json
import sqlite3
from collections import defaultdict
from typing import Any

from provenance.case.items import first_name_sql


def _earliest(conn: sqlite3.Connection) -> dict[str, tuple[str, str]]:
    """Per item: (earliest UTC instant known, what says so) — capture, custody or sighting."""
    from provenance.case.when import parse_when
    from provenance.errors import BadInput

    out: dict[str, tuple[str, str]] = {}

    def offer(sha: str, instant: str, source: str) -> None:
        if sha not in out or instant < out[sha][0]:
            out[sha] = (instant, source)

    for sha, first in conn.execute("SELECT item, MIN(recorded_at) FROM sightings GROUP BY item"):
        offer(sha, first.replace("Z", "+00:00"), "first sighting")
    for sha, first in conn.execute(
            "SELECT item, MIN(at_earliest) FROM custody WHERE at_earliest IS NOT NULL"
            " GROUP BY item"):
        offer(sha, first, "custody")
    for sha, captured in conn.execute(
            "SELECT sha256, captured_at FROM items WHERE captured_at IS NOT NULL"):
        try:
            offer(sha, parse_when(captured).earliest().isoformat(), "capture time")
        except BadInput:
            continue
    return out


def families(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    """Re-upload families, then families that share only their sound ("same audio": a
    picture re-upload and a re-used sound track are different claims, never one family)."""
    return _families(conn, "re-upload") + _families(conn, "same audio")


def _families(conn: sqlite3.Connection, verdict: str) -> list[dict[str, Any]]:
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
        edges[item].add(other)
        edges[other].add(item)
        evidence[(item, other)] = evidence[(other, item)] = {
            "algorithm": algorithm, "distance": distance, **json.loads(detail)}
    earliest = _earliest(conn)
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
        remaining = sorted(component, key=lambda s: (earliest.get(s, ("9999", ""))[0], s))
        while remaining:
            root = remaining[0]
            members = [root] + [s for s in remaining[1:] if s in edges[root]]
            remaining = [s for s in remaining if s not in members]
            if len(members) < 2:
                continue
            out.append({**_family(conn, root, members, earliest, evidence),
                        "relation": verdict})
    out.sort(key=lambda f: f["earliest_at"] or "9999")
    return out


def _family(conn: sqlite3.Connection, root: str, members: list[str],
            earliest: dict[str, tuple[str, str]],
            evidence: dict[tuple[str, str], dict[str, Any]]) -> dict[str, Any]:
    rows = []
    for sha in members:
        item = conn.execute(
            f"SELECT kind, {first_name_sql()} AS file_name FROM items i WHERE sha256 = ?",
            (sha,)
        ).fetchone()
        at, source = earliest.get(sha, (None, None))
        rows.append({"sha256": sha, "kind": item["kind"], "file_name": item["file_name"],
                     "earliest_at": at, "earliest_source": source,
                     "relation_to_earliest": None if sha == root else evidence.get((sha, root))})
    return {"earliest": root, "earliest_at": rows[0]["earliest_at"], "size": len(rows),
            "members": rows}
