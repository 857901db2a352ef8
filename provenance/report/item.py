"""The audit trail of one item, as one plain document (`prov show`, exports)."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from provenance.case import (
    analysis_state,
    claims,
    corrections,
    custody,
    names,
    pagetext,
    retracted,
    workflow,
)
from provenance.case import items as registry
from provenance.ledger import log
from provenance.matching import relations
from provenance.report.collected import collected_for_item


def item_report(conn: sqlite3.Connection, sha256: str) -> dict[str, Any]:
    item = registry.get_item(conn, sha256)
    report: dict[str, Any] = {
        "sha256": item["sha256"],
        "md5": item["md5"],
        "size": item["size"],
        "mime": item["mime"],
        "kind": item["kind"],
        "stored": item["stored"],
        "registered_at": item["registered_at"],
        "registered_by": item["registered_by"],
        "metadata": item["metadata"],
        "raw_metadata": item["raw_metadata"],
        # Deferred at capture (issue 16): pending, analysed or failed; None when the item
        # was analysed as it was registered.
        "analysis": analysis_state.state(conn, sha256),
        "sightings": registry.sightings(conn, sha256),
        "custody": custody.timeline_for_item(conn, sha256),
        "claims": claims.claims_for_item(conn, sha256),
        "geo_check": claims.check_for_item(conn, sha256),
        "near_duplicates": relations.near_duplicates_for_item(conn, sha256),
        "collected": collected_for_item(conn, sha256),
        "page_text": pagetext.page_texts(conn, sha256),
    }
    report["workflow"] = workflow.for_item(conn, sha256)
    retracted.annotate(conn, report["sightings"])
    labels = names.labels(conn, sha256)
    report.update(
        name=labels["name"], names=labels["names"], tags=labels["tags"],
        tag_history=labels["tag_history"], notes=labels["notes"],
        withdrawn=corrections.withdrawal(conn, sha256),
        corrections=corrections.for_item(conn, sha256),
    )
    report["events"] = log.events(conn, sha256)
    return report


def dumps(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, default=str)
