"""`prov ocr ITEM...`: read the text of items already held, and record it as evidence."""

from __future__ import annotations

import dataclasses
import sqlite3
from dataclasses import dataclass, field
from typing import Any

from provenance.case import items as registry
from provenance.errors import Integrity, UsageProblem
from provenance.ingest import reading
from provenance.ledger import evidence, log
from provenance.ledger.db import transaction

OCR_KINDS = ("image", "scan", "document")


@dataclass
class OcrResult:
    sha256: str
    kind: str
    pages: list[dict[str, Any]] = field(default_factory=list)  # {page, text, source}
    warnings: list[str] = field(default_factory=list)
    recorded: list[str] = field(default_factory=list)  # event types recorded

    def to_json(self) -> dict[str, Any]:
        return {"sha256": self.sha256, "kind": self.kind, "pages": self.pages,
                "warnings": self.warnings, "recorded": self.recorded}


def ocr_item(conn: sqlite3.Connection, sha256: str, plan: reading.Plan, *, by: str
             ) -> OcrResult:
    """OCR every page of one held item from a copy whose bytes still hash to it; record it.

    Raises UsageProblem for an item of a kind with no pages (video, audio) or when Tesseract
    cannot run, Integrity when no intact copy is reachable.
    """
    item = registry.get_item(conn, sha256)
    kind = item["kind"]
    if kind not in OCR_KINDS:
        raise UsageProblem(f"item {sha256[:12]} is {kind}: OCR reads images, scans and"
                           " documents")
    if plan.engine is None or not plan.engine.usable:
        hint = plan.engine.install_hint() if plan.engine else "OCR is off"
        raise UsageProblem(hint or "Tesseract cannot run")
    path = evidence.EvidenceStore.beside(conn).locate_original(conn, sha256)
    if path is None:
        raise Integrity(f"item {sha256[:12]}: no copy whose SHA-256 matches is reachable"
                        " (stored original missing or modified; see `prov verify`)")
    forced = dataclasses.replace(plan, every_image=True)
    if item["mime"] == "application/pdf":
        found = reading.read_document(str(path), kind, item.get("page_count"), forced,
                                      force_ocr=True)
        # Text layers were read at registration; record only the OCR now asked for.
        found.events = [e for e in found.events if e["type"] == "ocr.recorded"]
    else:
        found = reading.read_image(path.read_bytes(), kind, forced, str(path))
    result = OcrResult(sha256, kind, warnings=found.warnings)
    with transaction(conn):
        for e in found.events:
            log.record(conn, e["type"], e["data"], by=by, item=sha256)
            result.recorded.append(e["type"])
            result.pages.extend({"page": p["page"], "text": p["text"],
                                 "source": e["data"]["source"]} for p in e["data"]["pages"])
    return result
