"""Hash links between pages checked word for word: one letterhead or one blank form is one
layout, and only the words tell two filled-in copies apart (issue 21).

Two pages whose pixels agree to within PDQ's threshold can still be different pages: two
copies of one form filled in with different answers differ in a few words in boxes, which
moves PDQ by 14-18 bits (bench/overlays.py). So a re-upload link from a page of a document
or scan to a held page is checked against both pages' text where both have enough of it:
words on one page that the other lacks make it "similar" (same layout, for a person to
review), not a re-upload. Text layers are exact, so two differing words are enough; OCR
misreads, so where either text is OCR a share of the words must be missing (a misread word
of 4+ letters still counts as found, as in matching/pages.py). Words are counted, not only
listed: two letters drawn from one vocabulary differ in how often they use each word.
"""

from __future__ import annotations

import json
import sqlite3
import unicodedata
from collections import Counter
from dataclasses import dataclass
from typing import Any

from provenance.ingest import reading
from provenance.matching import pages

# Query kinds whose pages are checked: a photo of a page is matched by its text elsewhere
# (ingest/pagematch.py), with thresholds for a phone camera's misreadings.
KINDS = ("document", "scan")
# Text layers on both sides: this many words found on one page and not on the other (either
# way, together) make two pages different. A re-saved PDF carries the same text (NFKC
# folds ligatures); two copies of the bench's form differ in 8-14 of ~55 words.
EXACT_DIFFERING = 2
# OCR on either side: OCR drops and adds words, so a share of each page's words is asked
# for: at least OCR_BOTH of each page's words missing from the other (a filled-in copy: other
# answers in the same boxes), or OCR_EITHER of one page's (another letter: a longer body).
# Measured on the bench's forms and letters rendered at 100-200 dpi and OCR'd against their
# text layers (README "Re-upload detection"): the same page at most 0.045 both ways and 0.144
# one way; another filled copy of the form at least 0.083 both ways, another letter 0.358 one
# way.
OCR_BOTH = 0.07
OCR_EITHER = 0.25
OCR_MIN_WORDS = 3


@dataclass(frozen=True)
class Comparison:
    """How two pages' words differ: words of ours the held page lacks, and the reverse."""

    ours_only: int
    theirs_only: int
    ours: int
    theirs: int
    exact: bool

    @property
    def different(self) -> bool:
        if self.exact:
            return self.ours_only + self.theirs_only >= EXACT_DIFFERING
        only = (self.ours_only, self.theirs_only)
        shares = (self.ours_only / max(self.ours, 1), self.theirs_only / max(self.theirs, 1))
        both = min(only) >= OCR_MIN_WORDS and min(shares) >= OCR_BOTH
        return both or any(n >= OCR_MIN_WORDS and share >= OCR_EITHER
                           for n, share in zip(only, shares, strict=True))

    def to_json(self) -> dict[str, Any]:
        return {"text": "differs" if self.different else "agrees",
                "words_only_here": self.ours_only, "words_only_there": self.theirs_only,
                "text_exact": self.exact}


def _words(text: str, exact: bool) -> Counter[str]:
    """The page's words with how often each occurs, as matching/pages.py reads words, line
    by line. Counted, not a set: two letters or two answers drawn from one vocabulary share
    every word but not how often each is used."""
    counts: Counter[str] = Counter()
    for line in unicodedata.normalize("NFKC", text).splitlines():
        counts.update(w for w in pages.words(line) if exact or pages.readable(w))
    return counts


def compare(ours: str, theirs: str, *, exact: bool) -> Comparison | None:
    """How the words of two pages differ; None when either has too few to say
    (pages.MIN_WORDS distinct words: a heading alone does not tell pages apart)."""
    a, b = _words(ours, exact), _words(theirs, exact)
    if len(a) < pages.MIN_WORDS or len(b) < pages.MIN_WORDS:
        return None
    a_only, b_only = a - b, b - a
    if not exact:
        _misread(a_only, b_only)
    return Comparison(a_only.total(), b_only.total(), a.total(), b.total(), exact)


def _misread(a: Counter[str], b: Counter[str]) -> None:
    """Take out of both leftovers each word of `a` that OCR may have misread as one of `b`
    (4+ letters, about a letter apart, as matching/pages.py allows; numbers exact)."""
    from difflib import SequenceMatcher

    for word in sorted(a):
        if word.isdigit() or len(word) < 4:
            continue
        while a[word] > 0:
            other = next((o for o in sorted(b) if b[o] > 0 and abs(len(o) - len(word)) <= 2
                          and SequenceMatcher(None, word, o).ratio() >= 0.8), None)
            if other is None:
                break
            a[word] -= 1
            b[other] -= 1
    for counts in (a, b):
        for word in [w for w, n in counts.items() if n <= 0]:
            del counts[word]


def _query_texts(readings: list[dict[str, Any]]) -> dict[int, tuple[str, bool]]:
    """The query's text per page and whether it is exact (a text layer, preferred)."""
    out: dict[int, tuple[str, bool]] = {}
    for r in sorted(readings, key=lambda r: r["type"] != "text_layer.read"):
        exact = r["type"] == "text_layer.read"
        for p in r["data"]["pages"]:
            out.setdefault(int(p["page"]), (p["text"], exact))
    return out


def _held_text(conn: sqlite3.Connection, sha: str, page: int) -> tuple[str, bool] | None:
    row = conn.execute(
        "SELECT text, source FROM page_text WHERE item_id = ? AND page = ?"
        " ORDER BY CASE source WHEN 'text-layer' THEN 0 ELSE 1 END LIMIT 1",
        (sha, page)).fetchone()
    return None if row is None else (str(row[0]), row[1] == "text-layer")


def linked_page(conn: sqlite3.Connection, m: dict[str, Any]) -> int | None:
    """The held page a link points at: its page; a scan registered as a picture is one page
    without a page number; so is a picture whose text was read whole, as a page (not a
    photographed sheet: its reading is a phone camera's, checked by matching/pages.py)."""
    if m.get("page") is not None:
        return int(m["page"])
    if m.get("kind") in KINDS:
        return 1
    if m.get("kind") != "image":
        return None
    for (payload,) in conn.execute(
            "SELECT e.payload FROM page_text p JOIN events e ON e.seq = p.event_id"
            " WHERE p.item_id = ? AND p.page = 1 AND p.source = 'ocr'", (m["sha256"],)):
        try:
            options = json.loads(payload)["data"].get("options", "")
        except (ValueError, KeyError, TypeError, AttributeError):
            continue
        if reading.SHEET not in str(options):
            return 1
    return None


def check(conn: sqlite3.Connection, kind: str, readings: list[dict[str, Any]],
          found: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The matches, with each re-upload link between pages whose words differ made
    "similar" (its detail says how the words differ)."""
    if kind == "image":
        # A picture read whole as a page (--ocr, or read to decide a link to a held page:
        # pagematch.read_for_links) is a page like a scan's; a photographed sheet's reading
        # is checked by matching/pages.py's thresholds for a phone camera instead.
        readings = [r for r in readings if r["type"] == "ocr.recorded"
                    and not reading.is_sheet_reading(r["data"])]
    elif kind not in KINDS:
        return found
    mine = _query_texts(readings)
    if not mine:
        return found
    out = []
    for m in found:
        page = linked_page(conn, m) if m["verdict"] == "re-upload" else None
        if page is not None:
            ours = mine.get(int(m.get("detail", {}).get("query_page") or 1))
            theirs = _held_text(conn, m["sha256"], int(page))
            if ours is not None and theirs is not None:
                said = compare(ours[0], theirs[0], exact=ours[1] and theirs[1])
                if said is not None and said.different:
                    m = {**m, "verdict": "similar",
                         "detail": {**m.get("detail", {}), **said.to_json()}}
        out.append(m)
    return out
