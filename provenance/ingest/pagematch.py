"""Page links checked against the text: a photographed page named by its words, and no page
of one filled-in form linked to the same page of another (see matching/pages.py)."""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Callable
from typing import Any

from provenance.ingest import pagewords, reading
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


def _unread_links(conn: sqlite3.Connection, readings: list[dict[str, Any]],
                  found: list[dict[str, Any]]) -> bool:
    """Some re-upload link by PDQ to a held page with words whose page of this file has no
    text."""
    mine = texts_by_page(readings)
    for m in found:
        # By PDQ: the picture is the page, whole (a rendering, a screenshot of it), so it is
        # read whole. A photographed sheet is linked by its keypoints, and read as a sheet.
        if m["verdict"] != "re-upload" or m["algorithm"] != "pdq":
            continue
        page = pagewords.linked_page(conn, m)
        if page is None:
            continue
        if int(m.get("detail", {}).get("query_page") or 1) in mine:
            continue
        theirs = held_text(conn, m["sha256"], int(page))
        if theirs is not None and len(pages.words(theirs)) >= pages.MIN_WORDS:
            return True
    return False


def read_for_links(conn: sqlite3.Connection, kind: str, readings: list[dict[str, Any]],
                   found: list[dict[str, Any]], plan: reading.Plan | None,
                   original: Callable[[], bytes | None]) -> tuple[list[dict[str, Any]], bool]:
    """The file's text, read now, where a link by its pixels to a held page with words needs
    it: a picture that is a whole page (a PNG of a form, a screenshot of a letter) is not
    read at registration unless it is a scan or --ocr is given, and its pixels alone cannot
    tell the held form from another filled-in copy of it (PDQ 20 bits apart). Returns the
    readings to add (recorded by the caller, as registration's are) and whether the text
    stays unread (no OCR engine, --no-ocr, or the file not at hand): then `check` calls
    such links similar, not re-uploads."""
    if kind not in ("image", "scan") or not _unread_links(conn, readings, found):
        return [], False
    if plan is None or plan.engine is None or not plan.engine.usable:
        return [], True
    data = original()
    if data is None:
        return [], True
    got = reading.read_image(data, "scan", plan, "page")  # the whole picture, as a page
    if got.engine_missing or not got.events:
        return [], True
    return got.events, False


def _unconfirmed(conn: sqlite3.Connection, m: dict[str, Any], mine: dict[int, str]
                 ) -> dict[str, Any]:
    """A re-upload link by PDQ to a held page with words, when this file's words were not read (no
    OCR engine, or --no-ocr): its pixels agree with that page, and another filled-in copy of
    the form (other answers, PDQ 20 bits away) would agree as well. Not called a re-upload
    on the layout alone: similar, the text not compared. (Read, the text decides.)"""
    if m["verdict"] != "re-upload" or m["algorithm"] != "pdq":
        return m
    page = pagewords.linked_page(conn, m)
    if page is None or int(m.get("detail", {}).get("query_page") or 1) in mine:
        return m
    theirs = held_text(conn, m["sha256"], page)
    if theirs is None or len(pages.words(theirs)) < pages.MIN_WORDS:
        return m
    return {**m, "verdict": "similar",
            "detail": {**m.get("detail", {}), "text": "not compared (not read)"}}


def check(conn: sqlite3.Connection, kind: str, readings: list[dict[str, Any]],
          found: list[dict[str, Any]], *, exclude: str | None,
          text_unread: bool = False) -> list[dict[str, Any]]:
    """The matches with page links the text contradicts removed, and pages a photo's text
    names added (as re-uploads, algorithm "page-text"). `text_unread`: the file's text was
    due to be read (a scan, or --ocr) but no OCR engine could run."""
    mine = texts_by_page(readings)
    if text_unread:
        found = [_unconfirmed(conn, m, mine) for m in found]
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


def read_again(conn: sqlite3.Connection, kind: str, path: str, sha256: str | None,
               readings: list[dict[str, Any]], plan: reading.Plan | None,
               *, exclude: str | None) -> list[dict[str, Any]]:
    """The readings, the photographed sheet's replaced by its black-and-white reading when the
    first one names no held page and the second names one (or, naming none either, reads more
    words); the options say which was kept and why. Only a sheet not read in black and white
    already (reading.py reads sparse sheets twice) is read again: measured on bench/pages.py,
    a form under a shadow read in grey named no page, and in black and white its own."""
    if kind != "image" or plan is None or not plan.sheets:
        return readings
    at = next((i for i, r in enumerate(readings) if r["type"] == "ocr.recorded"
               and reading.is_sheet_reading(r["data"])), None)
    if at is None or reading.read_twice(readings[at]["data"]):
        return readings
    first = readings[at]["data"]
    if _names_a_page(conn, first, exclude):
        return readings
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError:
        return readings  # the file was read a moment ago; its analysis stands as it is
    if hashlib.sha256(data).hexdigest() != sha256:
        return readings  # changed since it was hashed: a reading of other bytes is not its
    second = reading.sheet_in_black_and_white(data, plan)
    if second is None:
        return readings
    if _names_a_page(conn, second, exclude):
        why = "the first reading named no page"
    elif reading.event_words(second) > reading.event_words(first):
        why = f"the first reading named no page, and found {reading.event_words(first)} words"
    else:
        return readings
    second["options"] = f"{second['options']}; {reading.SHEET}, then {pages.BINARIZED} ({why})"
    out = list(readings)
    out[at] = {"type": "ocr.recorded", "data": second}
    return out


def _names_a_page(conn: sqlite3.Connection, event: dict[str, Any], exclude: str | None) -> bool:
    text = next((p["text"] for p in event["pages"] if int(p["page"]) == 1), None)
    return text is not None and bool(pages.find_pages(conn, text, exclude=exclude))
