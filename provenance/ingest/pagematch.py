"""Page links checked against the text: a photographed page named by its words, and no page
of one filled-in form linked to the same page of another (see matching/pages.py)."""

from __future__ import annotations

import sqlite3
from typing import Any

from provenance.matching import pages


def texts_by_page(readings: list[dict[str, Any]]) -> dict[int, str]:
    """The query's text per page, its text layer preferred to OCR."""
    out: dict[int, str] = {}
    for r in sorted(readings, key=lambda r: r["type"] != "text_layer.read"):
        for p in r["data"]["pages"]:
            out.setdefault(int(p["page"]), p["text"])
    return out


def held_text(conn: sqlite3.Connection, sha: str, page: int) -> str | None:
    row = conn.execute(
        "SELECT text FROM page_text WHERE item_id = ? AND page = ?"
        " ORDER BY CASE source WHEN 'text-layer' THEN 0 ELSE 1 END LIMIT 1",
        (sha, page)).fetchone()
    return None if row is None else str(row[0])


def check(conn: sqlite3.Connection, kind: str, readings: list[dict[str, Any]],
          found: list[dict[str, Any]], *, exclude: str | None) -> list[dict[str, Any]]:
    """The matches with page links the text contradicts removed, and pages a photo's text
    names added (as re-uploads, algorithm "page-text")."""
    mine = texts_by_page(readings)
    kept = []
    for m in found:
        page = m.get("page")
        if page is not None and m["verdict"] == "re-upload":
            query_page = int(m.get("detail", {}).get("query_page") or 1)
            theirs = held_text(conn, m["sha256"], int(page))
            ours = mine.get(query_page)
            if ours is not None and theirs is not None:
                said = pages.agreement(ours, theirs)
                if said is not None and not said.same_page:
                    continue  # same layout, other words: another copy of the form
                if said is None and kind == "image" and len(pages.words(theirs)) >= \
                        pages.MIN_WORDS:
                    # A photographed sheet whose words could not be read, matched by its
                    # pixels to a page with words: the layout agrees, the text is unchecked,
                    # and another filled-in copy of the form would look the same.
                    m = {**m, "verdict": "similar",
                         "detail": {**m.get("detail", {}), "text": "not confirmed"}}
        kept.append(m)
    if kind in ("image", "scan") and 1 in mine:
        linked = {(m["sha256"], m.get("page")) for m in kept if m["verdict"] == "re-upload"}
        for sha, page, said in pages.find_pages(conn, mine[1], exclude=exclude):
            if (sha, page) in linked:
                continue
            row = conn.execute("SELECT kind FROM items WHERE sha256 = ?", (sha,)).fetchone()
            kept = [m for m in kept if m["sha256"] != sha]
            kept.insert(0, {"sha256": sha, "kind": row[0] if row else None,
                            "distance": round(1.0 - said.recall, 3), "algorithm": "page-text",
                            "verdict": "re-upload", "detail": said.to_json(), "page": page})
    return kept
