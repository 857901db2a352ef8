"""Cases (investigations) as sightings name them: listing, and matching a typed name."""

from __future__ import annotations

import difflib
import sqlite3
from typing import Any

from provenance.errors import NotFound


def list_cases(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    """Every case with how many items and sightings it has; spellings that differ only in
    letter case are one case (listed under each spelling used)."""
    rows = conn.execute(
        "SELECT case_name, COUNT(DISTINCT item) AS items, COUNT(*) AS sightings,"
        " MIN(recorded_at) AS first_recorded, MAX(recorded_at) AS last_recorded"
        " FROM sightings WHERE case_name IS NOT NULL GROUP BY case_name"
        " ORDER BY case_name COLLATE NOCASE, case_name").fetchall()
    return [{"case": r["case_name"], "items": r["items"], "sightings": r["sightings"],
             "first_recorded": r["first_recorded"], "last_recorded": r["last_recorded"]}
            for r in rows]


def check_case(conn: sqlite3.Connection, name: str) -> str:
    """The case as typed, when some sighting names it (letter case aside); else refuse with
    the names close to it."""
    wanted = name.strip()
    row = conn.execute("SELECT 1 FROM sightings WHERE case_name = ? COLLATE NOCASE LIMIT 1",
                       (wanted,)).fetchone()
    if row is not None:
        return wanted
    known = [str(r[0]) for r in conn.execute(
        "SELECT DISTINCT case_name FROM sightings WHERE case_name IS NOT NULL")]
    folded = {k.casefold(): k for k in known}
    exact = folded.get(wanted.casefold())
    if exact is not None:  # a non-ASCII name NOCASE does not fold
        return exact
    # Names containing what was typed ("dprk" in "DPRK troops in Russia"), then spellings
    # close to it ("dprkk").
    near = [k for k in folded if wanted.casefold() in k] or difflib.get_close_matches(
        wanted.casefold(), list(folded), n=5, cutoff=0.5)
    hint = (f"; did you mean {', '.join(repr(folded[n]) for n in near)}?" if near
            else "; `prov cases` lists the cases")
    raise NotFound(f"no case {wanted!r}{hint}")
