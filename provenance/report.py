"""The audit trail of one item, as one plain document (`prov show`, exports)."""

from __future__ import annotations

import importlib
import json
import sqlite3
from collections.abc import Callable
from typing import Any

from . import log, registry

# Sections contributed by other concerns: name -> "module:function", each
# function taking (conn, sha256) and returning JSON-able data. A concern that
# is not installed simply contributes nothing.
SECTIONS: dict[str, str] = {
    "custody": "provenance.custody:timeline_for_item",
    "claims": "provenance.claims:claims_for_item",
    "geo_check": "provenance.claims:check_for_item",
    "near_duplicates": "provenance.relations:near_duplicates_for_item",
}


def _section(spec: str) -> Callable[[sqlite3.Connection, str], Any] | None:
    module_name, _, attr = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name == module_name:
            return None
        raise
    fn = getattr(module, attr, None)
    return fn if callable(fn) else None


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
        "sightings": registry.sightings(conn, sha256),
        "custody": [],
        "claims": [],
        "geo_check": None,
        "near_duplicates": [],
    }
    for name, spec in SECTIONS.items():
        fn = _section(spec)
        if fn is not None:
            report[name] = fn(conn, sha256)
    report["events"] = log.events(conn, sha256)
    return report


def dumps(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, default=str)
