"""An item's recorded near-duplicate relations, read from the database (SQL only: no numpy)."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from provenance.case.items import first_name_sql


def near_duplicates_for_item(conn: sqlite3.Connection, sha256: str) -> list[dict[str, Any]]:
    """Relations in either direction, best first, each with a one-line summary."""
    rows = conn.execute(
        "SELECT n.*, CASE WHEN n.item = ? THEN n.other ELSE n.item END AS counterpart,"
        " CASE WHEN n.item = ? THEN 'older' ELSE 'newer' END AS direction"
        " FROM near_duplicates n WHERE n.item = ? OR n.other = ? ORDER BY n.id",
        (sha256, sha256, sha256, sha256)).fetchall()
    out = []
    for r in rows:
        d = dict(r)
        d["detail"] = json.loads(d.pop("detail_json"))
        where = d["detail"].get("frame_seconds")
        page = d["detail"].get("page")
        covers = d["detail"].get("covers_seconds")  # of the older item, video against video
        first = conn.execute(f"SELECT {first_name_sql()} FROM items i WHERE i.sha256 = ?",
                             (d["counterpart"],)).fetchone()
        role = "re-upload of" if d["direction"] == "older" else "re-uploaded as"
        if d["verdict"] == "similar":
            role = "similar to"
        elif d["verdict"] == "same audio":
            role = "same audio as"
        d["summary"] = (f"{role} {d['counterpart'][:12]} ({first[0] if first else '-'}):"
                        f" {d['algorithm']} {d['distance']:g}"
                        + (", " + coverage_phrase(d["detail"], d["algorithm"], copy=(
                            "this one" if d["direction"] == "older" else "that one")) if covers
                           else f", at {where:g} s" if where is not None else "")
                        + (f", page {page}" if page is not None else "")
                        + f"  [event {d['id']}]")
        out.append(d)
    return out


def coverage_phrase(detail: dict[str, Any], algorithm: str, whose: str = "",
                    copy: str = "this one") -> str:
    """Which seconds of the held video a video match covers, in words that claim no more
    than was measured: frame alignment (vpdq) locates each end to within a sampling step;
    keypoints (orb) check a few keyframes, so their span is only "at least". `copy` names
    the video whose keyframes were checked (the newer one)."""
    start, end = detail["covers_seconds"]
    of = f" of {whose}" if whose else ""
    if algorithm == "orb" or detail.get("covers_at_least"):
        text = f"covering at least {start:g}-{end:g} s{of}"
        checked = detail.get("checked_seconds")
        if checked:
            agree = detail.get("orb_pairs")
            text += (f" (keyframes checked at {', '.join(f'{s:g}' for s in checked)} s of"
                     f" {copy}" + (f"; {agree} of {len(checked)} agree)" if agree else ")"))
        return text
    within = detail.get("covers_within_seconds")
    return f"covering {start:g}-{end:g} s{of}" + (f" to within {within:g} s" if within else "")
