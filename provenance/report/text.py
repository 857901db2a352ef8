"""Plain-text rendering of reports for the terminal."""

from __future__ import annotations

from typing import Any

from provenance.case import analysis_state
from provenance.report.collected import collected_lines
from provenance.report.corrections import correction_lines, label_lines, line, plain
from provenance.report.printable import printable
from provenance.report.sections import (
    META_ORDER,
    credential_line,
    meta_value,
    page_text_blocks,
    timeline_line,
)


def _line(label: str, value: Any) -> str:
    return f"  {label:<18} {value}"


def render_show(doc: dict[str, Any]) -> str:
    out: list[str] = []
    first = doc["sightings"][0] if doc["sightings"] else {}
    out.append(f"item {doc['sha256']}")
    out.append(_line("kind", f"{doc['kind']} ({doc['mime']})"))
    out.append(_line("size", f"{doc['size']} bytes"))
    out.append(_line("md5", doc["md5"]))
    out.append(_line("first name", first.get("file_name") or "-"))
    out.append(
        _line("registered", f"{doc['registered_at']} by {doc['registered_by']}"
              + ("" if doc["stored"] else "  (referenced, not copied)"))
    )
    deferred = analysis_state.line(doc)
    if deferred:  # a capture secured it before analysing it (issue 16)
        out.append(f"  {deferred}")
    labels = label_lines(doc)
    if labels:
        out.append("")
        out.extend("  " + plain(x) for x in labels)
    meta = doc.get("metadata") or {}
    shown = [(label, meta_value(meta, key)) for key, label in META_ORDER
             if meta.get(key) is not None]
    out.append("")
    out.append("metadata (from the file itself)")
    if shown:
        out.extend(_line(label, value) for label, value in shown)
        if meta.get("nearest_place"):
            out.append(_line("nearest place", meta["nearest_place"]))
    else:
        out.append("  (none)")
    if meta.get("c2pa"):
        out.append(_line("content credential", credential_line(meta)))

    out.append("")
    out.append(f"sightings ({len(doc['sightings'])})")
    for s in doc["sightings"]:
        where = s.get("source_url") or s.get("path") or "-"
        extra = ", ".join(
            f"{k} {s[v]!r}" for k, v in (("case", "case_name"), ("title", "title"),
                                         ("note", "note")) if s.get(v)
        )
        out.append("  " + plain(line(
            f"{s['recorded_at']}  {s['recorded_by']}: {where}"
            + (f"  ({extra})" if extra else "")
            + (f"  [seen at source {s['seen_at']}]" if s.get("seen_at") else ""), s)))

    if doc.get("collected"):
        out += ["", f"collected ({len(doc['collected'])} capture(s))", *collected_lines(doc)]
    out.extend(_render_custody(doc.get("custody")))
    out.extend(_render_claims(doc.get("claims") or [], doc.get("geo_check")))
    out.extend(_render_near_duplicates(doc.get("near_duplicates") or []))
    if doc.get("workflow"):
        from provenance.report.workflow import lines as workflow_lines

        out += ["", "review workflow", *("  " + line for line in workflow_lines(doc))]
    fixes = correction_lines(doc)
    if fixes:
        out += ["", "corrections (nothing is deleted: each is an event)"]
        out.extend("  " + x for x in fixes)
    blocks = page_text_blocks(doc)
    if blocks:
        out.extend(["", f"text read off its pages ({len(blocks)})"])
        for head, lines in blocks:
            out.append(f"  {head}")
            out.extend(f"    {line}" for line in lines)

    events = doc.get("events") or []
    out.append("")
    out.append(f"events ({len(events)})")
    for e in events:
        out.append(f"  {e['seq']:>5}  {e['recorded_at']}  {e['recorded_by']:<12} {e['type']:<20}"
                   f" {e['chain_hash'][:16]}")
    # Each entry of `out` is one line: whatever it quotes is escaped onto that line.
    return "\n".join(printable(line) for line in out)


def _render_custody(custody: Any) -> list[str]:
    out = ["", "custody"]
    if not custody:
        out.append("  (no custody events recorded)")
        return out
    entries = custody.get("timeline", []) if isinstance(custody, dict) else custody
    for c in entries:
        out.append("  " + plain(line(timeline_line(c), c)))
    for flag in (custody.get("flags", []) if isinstance(custody, dict) else []):
        out.append(f"  ! {flag.get('message', flag) if isinstance(flag, dict) else flag}")
    for ignored in (custody.get("ignored", []) if isinstance(custody, dict) else []):
        out.append(f"  not checked for flags: {ignored}")
    return out


def _render_claims(claims: list[dict[str, Any]], check: Any) -> list[str]:
    out = ["", "geolocation claims"]
    if not claims:
        out.append("  (none)")
    for c in claims:
        out.append("  " + plain(line(c.get("summary") or str(c), c)))
        for r in c.get("reviews", []):
            out.append("      review: " + plain(line(
                f"{r.get('status')} by {r.get('recorded_by')} at {r.get('recorded_at')}:"
                f" {r.get('reason')}", r)))
    if check and isinstance(check, dict):
        near = check.get("gps_nearest_place")
        if near:
            out.append(f"  the file's own GPS is {near['summary']}")
        if check.get("pairs"):
            out.append(f"  check ({check.get('verdict')}):")
        for pair in check.get("pairs", []):
            out.append("    " + (pair.get("summary") or str(pair)))
        for label in check.get("excluded", []):
            out.append(f"    not compared: {label}")
    return out


def _render_near_duplicates(rels: list[dict[str, Any]]) -> list[str]:
    out = ["", "near-duplicates"]
    if not rels:
        out.append("  (none found)")
    for r in rels:
        out.append("  " + (r.get("summary") or str(r)))
    return out
