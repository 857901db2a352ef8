"""`prov export`: an item's or a case's audit trail as a document fit to attach to a filing."""

from __future__ import annotations

import base64
import json
import sqlite3
from datetime import UTC, datetime
from typing import Any

from provenance import __version__
from provenance.case import items as registry
from provenance.errors import NotFound, UsageProblem
from provenance.ledger.db import database_id, db_path_of
from provenance.report import item as report

# Map and timeline formats (report/geoexport.py): rows of what is located and dated.
GEO_FORMATS = ("geojson", "kml", "csv", "timeline")
FORMATS = ("json", "md", "html", *GEO_FORMATS)
FORMAT_VERSION = "prov-export/1"


def build(
    conn: sqlite3.Connection, *, item: str | None = None, case: str | None = None, by: str,
    incident: str | None = None,
) -> dict[str, Any]:
    """The export document: every item's report plus the verify result at this moment.

    All of it is read in one read transaction (verify joins it), so a `prov add` committing
    meanwhile is in every part of the report or in none: the verify header and the items
    below it describe the same moment.
    """
    own = not conn.in_transaction
    if own:
        conn.execute("BEGIN")
    try:
        return _build(conn, item=item, case=case, by=by, incident=incident)
    finally:
        if own and conn.in_transaction:
            conn.execute("ROLLBACK")


def _build(
    conn: sqlite3.Connection, *, item: str | None, case: str | None, by: str,
    incident: str | None = None,
) -> dict[str, Any]:
    from provenance.ledger.verify import verify

    if sum(x is not None for x in (item, case, incident)) != 1:
        raise UsageProblem("export one item (ITEM), one case (--case NAME) or one incident"
                           " (--incident NAME): exactly one of them")
    extra: dict[str, Any] = {}
    if incident is not None:
        from provenance.case import incidents

        extra["incident"] = incidents.describe(conn, incident)
        shas = incidents.item_shas(conn, incident)
        scope: dict[str, Any] = {"incident": extra["incident"]["name"]}
    elif item is not None:
        shas = [registry.resolve(conn, item)]
        scope = {"item": shas[0]}
    else:
        shas = [it["sha256"] for it in registry.list_items(conn, case=case,
                                                              include_withdrawn=True)]
        if not shas:
            raise NotFound(f"no items in case {case!r}: `prov list` shows the cases held")
        scope = {"case": case}
    result = verify(conn)
    items = [report.item_report(conn, sha) for sha in shas]
    envelopes = _envelopes(conn, {e["seq"] for it in items for e in it["events"]})
    for it in items:
        it["events"] = [_as_hashed(event, envelopes[event["seq"]]) for event in it["events"]]
    return {
        "format": FORMAT_VERSION,
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "generated_by": by,
        "prov_version": __version__,
        "database": {"file": db_path_of(conn).name, "database_id": database_id(conn)},
        "scope": scope,
        "verify": result.to_json(),
        **extra,
        "items": items,
        # Every event's [seq, leaf_hash, chain_hash], from the genesis to the head: with it,
        # anyone can recompute the chain through the exported events to the head above, and
        # compare that head with a checkpoint kept elsewhere (README: re-checking an export).
        "chain": [[r["seq"], r["leaf_hash"], r["chain_hash"]] for r in conn.execute(
            "SELECT seq, leaf_hash, chain_hash FROM events ORDER BY seq")],
    }


def _envelopes(conn: sqlite3.Connection, seqs: set[int]) -> dict[int, dict[str, Any]]:
    """These events' hashed envelopes, exactly as stored (log.events leaves out "format")."""
    return {r["seq"]: json.loads(r["payload"])
            for r in conn.execute("SELECT seq, payload FROM events") if r["seq"] in seqs}


def _as_hashed(event: dict[str, Any], envelope: dict[str, Any]) -> dict[str, Any]:
    """The exported event: the envelope its leaf hash was computed over, key for key, then
    the hashes. SHA-256("prov:event:v1\\0" + RFC 8785 of it without the two hashes) is its
    leaf_hash; the existing keys keep their values (they are the envelope's)."""
    return {**envelope, **{k: v for k, v in event.items() if k not in envelope}}


def render(conn: sqlite3.Connection, doc: dict[str, Any], fmt: str, *,
           show_sensitive: bool = False) -> str:
    if fmt == "json":
        return report.dumps(doc) + "\n"
    if fmt == "md":
        from provenance.report.markdown import render_markdown

        return render_markdown(doc)
    if fmt == "html":
        from provenance.report.html import render_html

        thumbs = {it["sha256"]: thumbnail_data_uri(conn, it["sha256"], reveal=show_sensitive)
                  for it in doc["items"]}
        return render_html(doc, thumb_src=thumbs.__getitem__, sensitive_shown=show_sensitive)
    if fmt in GEO_FORMATS:
        from provenance.report.geoexport import render as render_geo

        return render_geo(conn, doc, fmt)
    raise UsageProblem(f"unknown export format {fmt!r}; use one of: {', '.join(FORMATS)}")


def thumbnail_data_uri(conn: sqlite3.Connection, sha256: str, *, reveal: bool = False) -> str:
    """The preview inlined, so the HTML needs nothing beside it: for an item flagged graphic,
    only the blurred one unless `reveal` (the report is passed on; the picture must not
    travel inside it by default)."""
    from provenance.report.sensitive import preview

    thumb = preview(conn, sha256, reveal=reveal)
    return f"data:{thumb.mime};base64,{base64.b64encode(thumb.data).decode('ascii')}"


def referenced_urls(doc: dict[str, Any]) -> set[str]:
    """Every URL the recorded evidence itself names (sightings, custody, claims)."""
    urls: set[str] = set()

    def walk(value: Any, key: str = "") -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                walk(v, k)
        elif isinstance(value, list):
            for v in value:
                walk(v, key)
        elif isinstance(value, str) and key in {"source_url", "url"}:
            urls.add(value)

    for it in doc.get("items", []):
        walk({k: it.get(k) for k in ("sightings", "custody", "claims")})
    return urls


def as_json_text(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
