"""The Markdown export: the same sections as the HTML, for filings and plain-text review."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from provenance.report import sections as sec
from provenance.report import svgmap


def _cell(value: Any) -> str:
    return str(value).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def _table(headers: tuple[str, ...], rows: Sequence[Sequence[str]]) -> list[str]:
    out = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    out += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return out


def _code(value: str) -> str:
    return f"`{value}`" if value else ""


def render_markdown(doc: dict[str, Any]) -> str:
    ok, verify = sec.verify_lines(doc)
    db = doc.get("database") or {}
    out = [
        f"# Provenance report: {sec.scope_text(doc)}",
        "",
        f"Generated {doc.get('generated_at')} by {doc.get('generated_by')} with prov"
        f" {doc.get('prov_version')} from database `{db.get('file')}`"
        f" (id `{db.get('database_id')}`).",
        "",
        "## Integrity at export time (`prov verify`)",
        "",
        *[f"- {line}" for line in verify],
        "",
    ]
    if not ok:
        out += ["**The database did not verify when this report was made: do not rely on it"
                " before the problems above are explained.**", ""]
    for it in doc.get("items") or []:
        out += _item(it)
    out += [
        "---",
        "",
        "Every event's leaf hash is SHA-256 over its canonical JSON payload and its chain hash"
        " links it to the one before; `prov verify` re-checks both, and the JSON export carries"
        " each payload and the raw metadata tags.",
        "",
    ]
    return "\n".join(out)


def _item(it: dict[str, Any]) -> list[str]:
    out = [f"## Item {it['sha256']}", "", "### Identity", ""]
    out += _table(("field", "value"), sec.identity_rows(it))
    out += ["", "### Metadata (from the file itself)", ""]
    rows = sec.metadata_rows(it)
    out += _table(("field", "value"), rows) if rows else ["(none)"]
    out += ["", "### Sightings", ""]
    sightings = sec.sighting_rows(it)
    out += _table(sec.SIGHTING_HEADERS, sightings) if sightings else ["(none)"]
    out += ["", "### Custody", ""]
    entries, flags = sec.custody_lines(it)
    out += [f"{n}. {e}" for n, e in enumerate(entries, 1)] or ["(no custody events recorded)"]
    out += [f"- **flag:** {f}" for f in flags]
    out += ["", "### Geolocation claims", ""]
    claims = sec.claim_blocks(it)
    for head, reviews in claims:
        out.append(f"- {head}")
        out += [f"  - review: {r}" for r in reviews]
    if not claims:
        out.append("(none)")
    verdict, pairs = sec.geo_check_lines(it)
    if verdict or pairs:
        out += ["", f"Consistency check: **{verdict or '-'}**", ""]
        out += [f"- {p}" for p in pairs]
    points = svgmap.points_of(it)
    if points:
        out += ["", "Located points:", ""]
        out += _table(("point", "latitude", "longitude", "status"),
                      [(p.label, f"{p.latitude:.6f}", f"{p.longitude:.6f}", p.status or "")
                       for p in points])
    out += ["", "### Near-duplicates", ""]
    dupes = sec.near_duplicate_lines(it)
    out += [f"- {line}" for line, _ in dupes] or ["(none found)"]
    out += ["", "### Events (hash-chained log)", ""]
    events = sec.event_rows(it)
    out += _table(sec.EVENT_HEADERS, [(*r[:4], _code(r[4]), _code(r[5])) for r in events])
    out.append("")
    return out
