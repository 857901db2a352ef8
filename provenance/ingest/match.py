"""`prov match FILE|ITEM`: what a file, or a held item, re-uploads or resembles."""

from __future__ import annotations

import hashlib
import os
import sqlite3
from typing import Any

from provenance.case import analysis_state
from provenance.case import items as registry
from provenance.errors import BadInput, UsageProblem
from provenance.ingest import pagematch, pagewords, reading, sheets
from provenance.ingest.analysis import analyse
from provenance.ledger.evidence import EvidenceStore
from provenance.matching import matchrule
from provenance.matching.catalogue import catalogue, match_json
from provenance.matching.search import find_for
from provenance.media import ocr


def match(conn: sqlite3.Connection, target: str, *, max_distance: int | None = None,
          crop_candidates: int | None = None, include_withdrawn: bool = False
          ) -> dict[str, Any]:
    """`prov match FILE|ITEM`: what the file (or held item) re-uploads or resembles.
    Withdrawn items are left out of the matches unless asked for (the very bytes held are
    still reported as identical, withdrawn or not)."""
    from provenance.case.retracted import withdrawn_items

    held: str | None = None
    if os.path.isfile(target):
        path = target
    else:
        held = registry.resolve(conn, target)
        store = EvidenceStore.beside(conn)
        original = store.locate_original(conn, held)
        if original is None:
            if next(store.copies(conn, held), None) is None:
                raise UsageProblem(f"item {held[:12]} was referenced, not copied, and no copy"
                                   " is reachable to hash again")
            raise UsageProblem(f"item {held[:12]}: no copy matching the item is reachable (every"
                               " copy found has other bytes now); `prov verify` lists them")
        path = str(original)
    plan = sheets.plan_for(conn, reading.Plan(ocr.deferred()), [path], None)
    # The query's content credential is registration's business: nothing below reads it.
    analysis = analyse(path, plan=plan, credentials=False)
    if analysis.error:
        raise BadInput(target, analysis.error)
    if held is None and analysis.sha256 and conn.execute(
            "SELECT 1 FROM items WHERE sha256 = ?", (analysis.sha256,)).fetchone():
        held = analysis.sha256
    analysis.readings = pagematch.read_again(conn, analysis.kind, analysis.real_path or path,
                                             analysis.sha256, analysis.readings, plan,
                                             exclude=held)
    cat = catalogue(conn)
    found = find_for(cat, analysis, exclude=held,
                     crop_candidates=matchrule.CROP_CANDIDATES if crop_candidates is None
                     else crop_candidates)
    linked = [match_json(cat, m) for m in found]

    def query_bytes() -> bytes | None:
        try:
            with open(path, "rb") as fh:
                data = fh.read()
        except OSError:
            return None
        # Changed since it was hashed: a reading of other bytes is not its.
        return data if hashlib.sha256(data).hexdigest() == analysis.sha256 else None

    extra, unread = pagematch.read_for_links(conn, analysis.kind, analysis.readings, linked,
                                             plan, query_bytes)
    analysis.readings = analysis.readings + extra
    checked = pagematch.check(conn, analysis.kind, analysis.readings, linked, exclude=held,
                              text_unread=analysis.ocr_missing or unread)
    checked = pagewords.check(conn, analysis.kind, analysis.readings, checked)
    matches = [m for m in checked
               if max_distance is None or m["algorithm"] in ("orb", "audio", "page-text")
               or m["distance"] <= max_distance]
    withdrawn = set() if include_withdrawn else withdrawn_items(conn)
    left_out = sum(1 for m in matches if m["sha256"] in withdrawn)
    matches = [m for m in matches if m["sha256"] not in withdrawn]
    waiting = [s for s in analysis_state.pending(conn) if s != held]
    if waiting:
        # Captured items secured but not analysed yet have no perceptual hashes to be found by.
        analysis.warnings.append(
            f"{len(waiting)} held item(s) await their analysis (captured, analysis pending)"
            " and cannot be found by matching until `prov analyse` runs it")
    is_file = os.path.isfile(target)
    if is_file and held is not None:
        # The very bytes are held already: that is the best match there is.
        held_key = cat.items.key(held)
        matches.insert(0, {"sha256": held,
                           "kind": cat.items.kind(held_key) if held_key is not None else None,
                           "distance": 0, "algorithm": "sha256", "verdict": "identical",
                           "detail": {}})
    return {
        "query": {"path": target if is_file else None, "item": None if is_file else held,
                  "sha256": analysis.sha256, "kind": analysis.kind, "held": held is not None,
                  "warnings": analysis.warnings},
        "matches": matches,
        "withdrawn_left_out": left_out,
    }
