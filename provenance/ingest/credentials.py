"""An item's C2PA content credential read again from its original: `prov c2pa ITEM`."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any

from provenance.case import items as registry
from provenance.errors import Integrity, UsageProblem
from provenance.ledger import evidence, log
from provenance.ledger.db import transaction
from provenance.media import c2pa


@dataclass
class CredentialReport:
    sha256: str
    summary: dict[str, Any]  # as `prov show` keeps it, ingredients linked to held items
    report: dict[str, Any]  # the whole manifest store as the reader returned it
    recorded: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"sha256": self.sha256, "credential": self.summary,
                "statement": c2pa.describe(self.summary), "recorded": self.recorded,
                "manifest_store": self.report}


def read_item(conn: sqlite3.Connection, sha256: str, trust: c2pa.TrustList | None
              ) -> CredentialReport:
    """Read the credential from a copy of the item whose bytes still hash to it."""
    item = registry.get_item(conn, sha256)
    if not c2pa.applies_to(item["mime"]):
        raise UsageProblem(f"item {sha256[:12]} is {item['mime']}: C2PA credentials are read"
                           " from images, video, audio and PDF only")
    path = evidence.EvidenceStore.beside(conn).locate_original(conn, sha256)
    if path is None:
        raise Integrity(f"item {sha256[:12]}: no copy whose SHA-256 matches is reachable"
                        " (stored original missing or modified; see `prov verify`)")
    reading = c2pa.read(str(path), item["mime"], trust=trust)
    summary = dict(reading.summary)
    summary["ingredients"] = [dict(i, **held(conn, i)) for i in summary.get("ingredients", [])]
    return CredentialReport(sha256, summary, reading.report)


def held(conn: sqlite3.Connection, ingredient: dict[str, Any]) -> dict[str, Any]:
    """{"held_item": sha} when prov holds the ingredient: an item whose own credential has the
    ingredient's manifest (or instance id). C2PA names ingredients by manifest, not by file
    hash, so this is how a parent file is recognised among the items."""
    for key, value in (("manifest", ingredient.get("manifest")),
                       ("instance_id", ingredient.get("instance_id"))):
        if not value:
            continue
        row = conn.execute(
            "SELECT sha256 FROM items WHERE json_extract(metadata_json, ?) = ?"
            " ORDER BY registered_event LIMIT 1", (f"$.c2pa.{key}", value)).fetchone()
        if row is not None:
            return {"held_item": row[0]}
    return {}


def record(conn: sqlite3.Connection, found: CredentialReport, *, by: str) -> None:
    """Record this reading as a `c2pa.read` event: it becomes the item's credential."""
    raw = {"validation_status": found.report.get("validation_status") or []}
    with transaction(conn):
        log.record(conn, "c2pa.read", {"c2pa": found.summary, "raw": raw}, by=by,
                   item=found.sha256)
    found.recorded = True
