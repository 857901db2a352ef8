"""`prov reclassify`: an item registered as the wrong kind, analysed again as the right one."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from provenance.errors import BadInput, UsageProblem
from provenance.ledger import log
from provenance.media.sniff import KINDS


@dataclass
class Reclassified:
    seq: int
    previous: str
    kind: str


def _hash_key(h: dict[str, object]) -> tuple[object, ...]:
    return (h["algorithm"], h.get("region") or "full", h.get("frame_seconds"), h.get("page"),
            h["value"])


def reclassify(conn: sqlite3.Connection, sha256: str, kind: str, reason: str | None, *,
               by: str) -> Reclassified:
    """Re-run the analysis of the item's original as `kind`; record the new kind when the
    bytes can be that kind. The perceptual hashes stored at registration stay the item's
    (hash rows are only ever added, and matching caches rely on it): a kind whose analysis
    would hash the original differently is refused, with the way to register it anew."""
    from provenance.ingest.analysis import analyse, discard
    from provenance.ledger.db import transaction
    from provenance.ledger.evidence import EvidenceStore

    wanted = kind.strip().lower()
    if wanted not in KINDS:
        raise UsageProblem(f"unknown kind {kind!r}; use one of: {', '.join(KINDS)}")
    row = conn.execute("SELECT kind FROM items WHERE sha256 = ?", (sha256,)).fetchone()
    previous = str(row["kind"])
    if previous == wanted:
        raise UsageProblem(f"item {sha256[:12]} is already a {wanted}")
    original = EvidenceStore.beside(conn).locate_original(conn, sha256)
    if original is None:
        raise BadInput(sha256[:12], "no copy of the original is reachable to analyse again"
                       " (`prov verify` says why); add the file again, then reclassify")
    analysis = analyse(str(original), wanted)
    discard(analysis)
    if analysis.error:
        why = analysis.error.split("; pass --kind other")[0]
        raise UsageProblem(f"item {sha256[:12]} cannot be reclassified as {wanted}: {why}")
    stored = {_hash_key({"algorithm": r["algorithm"], "region": r["region"],
                         "frame_seconds": r["frame_seconds"], "page": r["page"],
                         "value": bytes(r["value"]).hex()})
              for r in conn.execute("SELECT * FROM hashes WHERE item = ?", (sha256,))}
    fresh = {_hash_key(h) for h in analysis.hashes}
    if fresh != stored:
        raise UsageProblem(
            f"as a {wanted}, item {sha256[:12]} would be fingerprinted differently from its"
            f" registration as a {previous}, and prov never replaces an item's fingerprints:"
            f" it stays a {previous} (`prov note` can record what it really is)")
    why = (reason or "").strip() or f"registered as {previous}; analysed again as {wanted}"
    with transaction(conn):
        event = log.record(conn, "item.reclassified",
                           {"kind": wanted, "previous_kind": previous, "reason": why,
                            "analysis": {"mime": analysis.mime,
                                         "hashes_unchanged": len(fresh)}},
                           by=by, item=sha256)
    return Reclassified(event.seq, previous, wanted)
