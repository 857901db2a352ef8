"""An item report flattened into rows and lines, shared by the Markdown and HTML exports."""

from __future__ import annotations

from typing import Any

from provenance.case.when import capture_when
from provenance.report.corrections import line as struck_line

# Normalised metadata in the order an examiner reads it; other keys follow, sorted.
META_ORDER = (
    ("captured_at", "captured"),
    ("captured_offset", "capture UTC offset"),
    ("captured_offset_source", "UTC offset from"),
    ("make", "camera make"),
    ("model", "camera model"),
    ("software", "software"),
    ("width", "width (px)"),
    ("height", "height (px)"),
    ("orientation", "orientation"),
    ("gps_latitude", "GPS latitude"),
    ("gps_longitude", "GPS longitude"),
    ("gps_altitude", "GPS altitude (m)"),
    ("duration_seconds", "duration (s)"),
    ("frame_rate", "frame rate"),
    ("codec", "codec"),
    ("page_count", "pages"),
    ("not_decoded", "pixels not decoded"),
)
CLAIM_FIELDS = ("place", "latitude", "longitude", "radius_m", "claimant", "claimant_name",
                "method", "confidence", "status", "source_url", "note", "recorded_by",
                "recorded_at")
NEAR_DUPLICATE_FIELDS = ("other", "algorithm", "distance", "verdict", "recorded_at")


def describe(d: Any, fields: tuple[str, ...] = ()) -> str:
    """A record as one line: its own summary when it has one, else its main fields."""
    if not isinstance(d, dict):
        return str(d)
    if d.get("summary"):
        return str(d["summary"])
    keys = fields or tuple(k for k, v in d.items() if not isinstance(v, dict | list))
    return "; ".join(f"{k.replace('_', ' ')} {d[k]}" for k in keys if d.get(k) not in (None, ""))


def identity_rows(it: dict[str, Any]) -> list[tuple[str, str]]:
    first = (it.get("sightings") or [{}])[0]
    return [
        ("SHA-256", it["sha256"]),
        ("MD5", it.get("md5") or "-"),
        ("size", f"{it.get('size')} bytes"),
        ("type", f"{it.get('kind')} ({it.get('mime')})"),
        ("first file name", first.get("file_name") or "-"),
        ("registered", f"{it.get('registered_at')} by {it.get('registered_by')}"),
        ("original", "copied into the evidence store" if it.get("stored")
         else "referenced only, not copied"),
    ]


def meta_value(meta: dict[str, Any], key: str) -> str:
    """One metadata value as shown: the capture time as recorded, saying when its zone is
    unknown (it is never converted) or was inferred by prov."""
    value = meta[key]
    if key != "captured_at":
        return str(value)
    when = capture_when(str(value))
    if when is None or not when.local_only:
        return str(value)
    offset = meta.get("captured_offset")
    if offset and capture_when(str(value), str(offset)) != when:
        source = meta.get("captured_offset_source") or "inferred by prov"
        return f"{value} (local time; zone {offset} {source})"
    return when.display()


def metadata_rows(it: dict[str, Any]) -> list[tuple[str, str]]:
    meta = it.get("metadata") or {}
    rows = [(label, meta_value(meta, key)) for key, label in META_ORDER
            if meta.get(key) is not None]
    if meta.get("c2pa"):
        rows.append(("content credential", credential_line(meta)))
    known = {key for key, _ in META_ORDER} | {"c2pa"}
    for key in sorted(meta):
        value = meta[key]
        if key not in known and value not in (None, "", [], {}):
            rows.append((key.replace("_", " "), str(value)))
    return rows


def credential_line(meta: dict[str, Any]) -> str:
    """The C2PA content credential in plain words ("credential valid, signed by … on …")."""
    from provenance.media.c2pa import describe

    return describe(meta.get("c2pa"))


SIGHTING_HEADERS = ("recorded", "by", "source URL", "path", "case", "title", "note",
                    "retracted")


def sighting_rows(it: dict[str, Any]) -> list[tuple[str, ...]]:
    """One row per sighting; a retracted one says so in its last column (struck through)."""
    return [
        (s.get("recorded_at") or "", s.get("recorded_by") or "", s.get("source_url") or "",
         s.get("path") or s.get("file_name") or "", s.get("case_name") or "",
         s.get("title") or "", s.get("note") or "", s.get("struck") or "")
        for s in it.get("sightings") or []
    ]


def custody_lines(it: dict[str, Any]) -> tuple[list[str], list[str]]:
    """(timeline entries, flags). Custody may be a timeline document or a plain list."""
    custody = it.get("custody")
    if not custody:
        return [], []
    if isinstance(custody, dict):
        entries = [struck_line(timeline_line(e), e) for e in custody.get("timeline", [])]
        flags = [f.get("message", str(f)) if isinstance(f, dict) else str(f)
                 for f in custody.get("flags", [])]
        flags += [f"not checked: {x}" for x in custody.get("ignored", [])]
        return entries, flags
    return [describe(e) for e in custody], []


def timeline_line(entry: Any) -> str:
    """A timeline entry as one line, with "order uncertain" when its date overlaps others'."""
    line = describe(entry)
    if isinstance(entry, dict) and entry.get("order_note"):
        line += f"  ({entry['order_note']})"
    return line


def claim_blocks(it: dict[str, Any]) -> list[tuple[str, list[str]]]:
    """Each claim as a line, with its reviews (oldest first) as lines."""
    out = []
    for c in it.get("claims") or []:
        head = describe(c, CLAIM_FIELDS)
        if isinstance(c, dict) and c.get("id") is not None and not c.get("summary"):
            head = f"claim {c['id']}: {head}"
        reviews = [
            struck_line(f"{r.get('status')} by {r.get('recorded_by')} at {r.get('recorded_at')}:"
                        f" {r.get('reason')}", r) if isinstance(r, dict) else str(r)
            for r in (c.get("reviews") or [] if isinstance(c, dict) else [])
        ]
        out.append((struck_line(head, c), reviews))
    return out


def geo_check_lines(it: dict[str, Any]) -> tuple[str | None, list[str]]:
    check = it.get("geo_check")
    if not check:
        return None, []
    if not isinstance(check, dict):
        return str(check), []
    pairs = [describe(p, ("a", "b", "distance_m", "tolerance_m", "verdict"))
             for p in check.get("pairs", [])]
    verdict = check.get("verdict")
    return (str(verdict) if verdict is not None else None), pairs


def near_duplicate_lines(it: dict[str, Any]) -> list[tuple[str, str | None]]:
    """(line, the other item's SHA-256 when known)."""
    out = []
    for r in it.get("near_duplicates") or []:
        other = None
        if isinstance(r, dict):
            other = r.get("other") if r.get("other") != it["sha256"] else r.get("item")
            other = other or r.get("sha256")
        out.append((describe(r, NEAR_DUPLICATE_FIELDS), other if isinstance(other, str)
                    else None))
    return out


EVENT_HEADERS = ("seq", "recorded", "by", "type", "leaf hash", "chain hash")


def page_text_blocks(it: dict[str, Any]) -> list[tuple[str, list[str]]]:
    """(heading, lines of text) per page reading: page, means, engine, version, languages."""
    out = []
    for r in it.get("page_text") or []:
        means = "text layer" if r["source"] == "text-layer" else "OCR"
        engine = " ".join(x for x in (r.get("engine"), r.get("engine_version")) if x)
        langs = f", languages {r['languages']}" if r.get("languages") else ""
        head = f"page {r['page']} ({means}, {engine}{langs}; event {r['event_id']})"
        out.append((head, (r.get("text") or "").splitlines() or ["(no text found)"]))
    return out


def event_rows(it: dict[str, Any]) -> list[tuple[str, ...]]:
    return [
        (str(e.get("seq")), e.get("recorded_at") or "", e.get("recorded_by") or "",
         e.get("type") or "", e.get("leaf_hash") or "", e.get("chain_hash") or "")
        for e in it.get("events") or []
    ]


def verify_lines(doc: dict[str, Any]) -> tuple[bool, list[str]]:
    v = doc.get("verify") or {}
    ok = bool(v.get("ok"))
    lines = [
        f"{'OK' if ok else 'FAILED'}: {v.get('events')} events in the log,"
        f" head {v.get('head')}, {v.get('files_checked')} stored originals re-hashed",
    ]
    lines += [f"problem: {p}" for p in v.get("problems") or []]
    lines += [f"warning: {w}" for w in v.get("warnings") or []]
    lines += [f"time-stamp: {t}" for t in v.get("timestamps") or []]
    return ok, lines


def scope_text(doc: dict[str, Any]) -> str:
    scope = doc.get("scope") or {}
    if "case" in scope:
        return f"case {scope['case']!r} ({len(doc.get('items') or [])} items)"
    if "incident" in scope:
        return f"incident {scope['incident']!r} ({len(doc.get('items') or [])} items)"
    return f"item {scope.get('item')}"
