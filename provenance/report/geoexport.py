"""Map and timeline exports: every located point (claims, file GPS, incidents) as GeoJSON, KML
or CSV, and every dated event as a CSV of intervals.

Written with the standard library (json, xml.etree, csv): GeoJSON is a JSON shape (RFC 7946)
and KML a small XML vocabulary, and what prov writes is points with properties. A library
would add a dependency to every install for no check the tests do not already make (they
parse the output with the `geojson` package and an XML parser).
"""

from __future__ import annotations

import csv
import io
import json
import re
import sqlite3
import xml.etree.ElementTree as ET
from typing import Any

from provenance.case.when import parse_when

KML_NS = "http://www.opengis.net/kml/2.2"
POINT_COLUMNS = ("kind", "label", "item", "item_status", "latitude", "longitude", "radius_m",
                 "place", "source", "status", "when", "when_earliest", "when_latest",
                 "recorded_by", "recorded_at", "url", "struck")
TIMELINE_COLUMNS = ("kind", "label", "item", "item_status", "as_recorded", "precision",
                    "approximate", "utc_offset_known", "earliest", "latest", "source", "detail",
                    "recorded_by", "recorded_at")


def render(conn: sqlite3.Connection, doc: dict[str, Any], fmt: str) -> str:
    if fmt == "timeline":
        return _csv(TIMELINE_COLUMNS, timeline_rows(conn, doc))
    points = point_rows(conn, doc)
    if fmt == "csv":
        return _csv(POINT_COLUMNS, points)
    if fmt == "geojson":
        return geojson(doc, points)
    if fmt == "kml":
        return kml(doc, points)
    raise ValueError(f"not a map or timeline format: {fmt!r}")


def _status(it: dict[str, Any]) -> str:
    return str((it.get("workflow") or {}).get("status") or "to-do")


def _incidents(conn: sqlite3.Connection, doc: dict[str, Any]) -> list[dict[str, Any]]:
    """The incidents the exported items are linked to (and the exported incident itself)."""
    from provenance.case import incidents

    names = {i["name"] for it in doc.get("items") or []
             for i in (it.get("workflow") or {}).get("incidents") or []}
    if doc.get("incident"):
        names.add(doc["incident"]["name"])
    return [incidents.describe(conn, n) for n in sorted(names, key=str.casefold)]


def _incident_status(inc: dict[str, Any]) -> str:
    counts: dict[str, int] = {}
    for it in inc["items"]:
        counts[it["status"]] = counts.get(it["status"], 0) + 1
    return ", ".join(f"{k}: {v}" for k, v in sorted(counts.items())) or "no items"


def point_rows(conn: sqlite3.Connection, doc: dict[str, Any]) -> list[dict[str, Any]]:
    """Every located point, each with its source (who or what says so) and status."""
    rows: list[dict[str, Any]] = []
    for it in doc.get("items") or []:
        sha, status = it["sha256"], _status(it)
        meta = it.get("metadata") or {}
        if meta.get("gps_latitude") is not None and meta.get("gps_longitude") is not None:
            captured = next((e for e in (it.get("custody") or {}).get("timeline") or []
                             if e.get("kind") == "capture"), None)
            when = (captured or {}).get("when") or {}
            rows.append({
                "kind": "file-gps", "label": f"GPS in {sha[:12]}", "item": sha,
                "item_status": status, "latitude": meta["gps_latitude"],
                "longitude": meta["gps_longitude"], "radius_m": 50.0, "place": None,
                "source": "the file's own metadata (EXIF GPS)", "status": "as recorded in the file",
                "when": when.get("text"), "when_earliest": when.get("earliest"),
                "when_latest": when.get("latest"), "recorded_by": it.get("registered_by"),
                "recorded_at": it.get("registered_at"), "url": None, "struck": None})
        for c in it.get("claims") or []:
            # A retracted or superseded claim stays on the map, marked: never hidden.
            mark = ("[RETRACTED] " if c.get("retracted") else
                    f"[SUPERSEDED by #{c['superseded_by']}] " if c.get("superseded_by") else "")
            rows.append({
                "kind": "claim", "label": f"{mark}claim {c['id']}" + (
                    f": {c['place']}" if c.get("place") else ""),
                "item": sha, "item_status": status, "latitude": c["latitude"],
                "longitude": c["longitude"], "radius_m": c["radius_m"], "place": c.get("place"),
                "source": f"{c.get('claimant_name') or 'unattributed'} ({c['method']}"
                          + (f", {c['confidence']} confidence" if c.get("confidence") else "")
                          + ")",
                "status": c["status"], "when": None, "when_earliest": None, "when_latest": None,
                "recorded_by": c["recorded_by"], "recorded_at": c["recorded_at"],
                "url": c.get("source_url"), "struck": c.get("struck")})
    for inc in _incidents(conn, doc):
        if inc.get("latitude") is None:
            continue
        when = inc.get("when") or {}
        rows.append({
            "kind": "incident", "label": f"incident: {inc['name']}", "item": None,
            "item_status": None, "latitude": inc["latitude"], "longitude": inc["longitude"],
            "radius_m": inc["radius_m"], "place": inc.get("place"),
            "source": f"incident recorded by {inc['recorded_by']}",
            "status": _incident_status(inc), "when": when.get("text"),
            "when_earliest": when.get("earliest"), "when_latest": when.get("latest"),
            "recorded_by": inc["recorded_by"], "recorded_at": inc["recorded_at"], "url": None,
            "struck": None})
    return rows


def timeline_rows(conn: sqlite3.Connection, doc: dict[str, Any]) -> list[dict[str, Any]]:
    """Every dated custody event, capture time and incident, each as the interval its date
    means (earliest, latest) beside the date as recorded, ordered by that interval."""
    rows: list[dict[str, Any]] = []
    for it in doc.get("items") or []:
        sha, status = it["sha256"], _status(it)
        for e in (it.get("custody") or {}).get("timeline") or []:
            when = e.get("when")
            if e.get("kind") not in ("custody", "capture") or not when:
                continue
            if e["kind"] == "capture":
                label, source = "capture time", "the file's own metadata"
                by, at = it.get("registered_by"), it.get("registered_at")
                detail = e.get("summary")
            else:
                ev = e["event"]
                label = f"custody event {ev['id']}: {ev['action']}"
                source = ev.get("asserted_name") or ev["recorded_by"]
                by, at, detail = ev["recorded_by"], ev["recorded_at"], ev.get("summary")
            rows.append({**_interval_row(e["kind"], label, sha, status, when, source, by, at),
                         "detail": detail})
    for inc in _incidents(conn, doc):
        if inc.get("when"):
            rows.append({**_interval_row(
                "incident", f"incident: {inc['name']}", None, None, inc["when"],
                f"incident recorded by {inc['recorded_by']}", inc["recorded_by"],
                inc["recorded_at"]), "detail": " ".join(
                    x for x in (inc.get("place"), inc.get("note")) if x) or None})
    return sorted(rows, key=lambda r: (r["earliest"], r["latest"], r["label"]))


def _interval_row(kind: str, label: str, item: str | None, status: str | None,
                  when: dict[str, Any], source: str, by: Any, at: Any) -> dict[str, Any]:
    # The reading is re-derived from the recorded text, so the interval is prov's, not a copy.
    w = parse_when(str(when["text"]), approximate=bool(when.get("approximate")))
    return {"kind": kind, "label": label, "item": item, "item_status": status,
            "as_recorded": str(w), "precision": w.precision, "approximate": w.approximate,
            "utc_offset_known": w.utc_offset_known, "earliest": w.earliest().isoformat(),
            "latest": w.latest().isoformat(), "source": source, "recorded_by": by,
            "recorded_at": at}


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")


def _cell(value: Any) -> str:
    """A CSV cell that opens in a spreadsheet as the text it is, never as a formula (a note
    in the evidence is hostile input; -33.86 stays a number)."""
    if value is None:
        return ""
    text = str(value).lower() if isinstance(value, bool) else str(value)
    if text.startswith(_FORMULA_START) and not _NUMBER.fullmatch(text):
        return "'" + text
    return text


def _csv(columns: tuple[str, ...], rows: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(columns)
    for r in rows:
        writer.writerow([_cell(r.get(c)) for c in columns])
    return out.getvalue()


def _title(doc: dict[str, Any]) -> str:
    scope = doc.get("scope") or {}
    for key in ("case", "incident", "item"):
        if key in scope:
            return f"prov export: {key} {scope[key]}"
    return "prov export"


def geojson(doc: dict[str, Any], points: list[dict[str, Any]]) -> str:
    """An RFC 7946 FeatureCollection: one Point per row, [longitude, latitude]."""
    features = [{
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [r["longitude"], r["latitude"]]},
        "properties": {k: r[k] for k in POINT_COLUMNS if k not in ("latitude", "longitude")},
    } for r in points]
    collection = {
        "type": "FeatureCollection",
        "name": _title(doc),
        "prov": {"scope": doc.get("scope"), "generated_at": doc.get("generated_at"),
                 "generated_by": doc.get("generated_by"),
                 "verify_ok": (doc.get("verify") or {}).get("ok"),
                 "head": (doc.get("verify") or {}).get("head")},
        "features": features,
    }
    return json.dumps(collection, indent=2, ensure_ascii=False) + "\n"


# Characters XML 1.0 cannot carry at all (C0 controls but tab and newlines, surrogates,
# U+FFFE/FFFF): written as \\uXXXX so a hostile note cannot make the KML unreadable.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def kml(doc: dict[str, Any], points: list[dict[str, Any]]) -> str:
    """KML 2.2: a Placemark per row, its properties as ExtendedData, its date as a TimeSpan
    (the interval the date means, never a single instant)."""
    ET.register_namespace("", KML_NS)

    def sub(parent: ET.Element, tag: str, text: str | None = None) -> ET.Element:
        el = ET.SubElement(parent, f"{{{KML_NS}}}{tag}")
        if text is not None:
            el.text = _NOT_XML.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
        return el

    root = ET.Element(f"{{{KML_NS}}}kml")
    document = sub(root, "Document")
    sub(document, "name", _title(doc))
    for r in points:
        mark = sub(document, "Placemark")
        sub(mark, "name", str(r["label"]))
        sub(mark, "description", f"{r['source']}; status: {r['status']}"
            + (f"; item {r['item']} ({r['item_status']})" if r.get("item") else ""))
        if r.get("when_earliest"):
            span = sub(mark, "TimeSpan")
            sub(span, "begin", str(r["when_earliest"]))
            sub(span, "end", str(r["when_latest"]))
        data = sub(mark, "ExtendedData")
        for key in POINT_COLUMNS:
            if r.get(key) is None:
                continue
            field = sub(data, "Data")
            field.set("name", key)
            sub(field, "value", str(r[key]))
        point = sub(mark, "Point")
        sub(point, "coordinates", f"{r['longitude']},{r['latitude']},0")
    ET.indent(root)
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            + ET.tostring(root, encoding="unicode") + "\n")
