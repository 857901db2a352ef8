"""The Markdown export: the same sections as the HTML, for filings and plain-text review."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from provenance.report import sections as sec
from provenance.report import svgmap
from provenance.report.collected import collected_lines
from provenance.report.corrections import Struck, correction_lines, label_lines
from provenance.report.printable import printable
from provenance.report.workflow import lines as workflow_lines

# Markdown renderers pass raw HTML through and turn [text](url), ![alt](src) and <scheme:...>
# into links and fetched images: every value that comes from the evidence or from a person
# (titles, notes, names, reasons, file names, URLs, EXIF text) is made literal text. HTML
# specials become entities (every dialect reads those); the Markdown specials that can open a
# link, an image, a code span, emphasis or strike-through, or end a table cell, are
# backslash-escaped (CommonMark: any ASCII punctuation may be). An underscore inside a word
# (@frontline_channel) emphasises nothing and stays as it is.
_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
_SPECIAL = re.compile(r"[\\`*\[\]|~&<>]|(?<![^\W_])_|_(?![^\W_])")


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    return _ENTITIES.get(char) or "\\" + char


def _md(value: Any) -> str:
    """Any value as literal Markdown text on one line; control characters, line breaks and
    bidi controls shown as visible escapes, as on the terminal."""
    return printable(_SPECIAL.sub(_escape, str(value)))


class _Markup(str):
    """Markdown prov wrote itself: a table cell that is not escaped again."""


def _table(headers: tuple[str, ...], rows: Sequence[Sequence[str]]) -> list[str]:
    out = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    out += ["| " + " | ".join(v if isinstance(v, _Markup) else _md(v) for v in row) + " |"
            for row in rows]
    return out


def _code(value: str) -> _Markup:
    """A hash as a code span; anything else is not trusted inside one."""
    return _Markup(f"`{value}`" if re.fullmatch(r"[0-9a-f]+", value or "")
                   else _md(value or ""))


def _struck(text: str) -> str:
    """A line as Markdown: struck through, with who/when/why, when retracted or superseded."""
    if isinstance(text, Struck):
        return f"~~{_md(text)}~~ ({_md(text.note)})"
    return _md(text)


def render_markdown(doc: dict[str, Any]) -> str:
    ok, verify = sec.verify_lines(doc)
    db = doc.get("database") or {}
    out = [
        f"# Provenance report: {_md(sec.scope_text(doc))}",
        "",
        f"Generated {_md(doc.get('generated_at'))} by {_md(doc.get('generated_by'))} with prov"
        f" {_md(doc.get('prov_version'))} from database {_md(db.get('file'))}"
        f" (id {_code(str(db.get('database_id')))}).",
        "",
        "## Integrity at export time (`prov verify`)",
        "",
        *[f"- {_md(line)}" for line in verify],
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
    out = [f"## Item {_md(it['sha256'])}", "", "### Identity", ""]
    out += _table(("field", "value"), sec.identity_rows(it))
    labels = label_lines(it)
    if labels:
        out += ["", "### Name, tags and notes", ""]
        out += [f"- {_struck(x)}" for x in labels]
    out += ["", "### Metadata (from the file itself)", ""]
    rows = sec.metadata_rows(it)
    out += _table(("field", "value"), rows) if rows else ["(none)"]
    out += ["", "### Sightings", ""]
    sightings = sec.sighting_rows(it)
    out += _table(sec.SIGHTING_HEADERS, sightings) if sightings else ["(none)"]
    collected = collected_lines(it)
    if collected:
        out += ["", "### Collected", "", "```",
                *(printable(line).replace("`", "'") for line in collected), "```"]
    out += ["", "### Custody", ""]
    entries, flags = sec.custody_lines(it)
    out += [f"{n}. {_struck(e)}" for n, e in enumerate(entries, 1)] or [
        "(no custody events recorded)"]
    out += [f"- **flag:** {_md(f)}" for f in flags]
    out += ["", "### Geolocation claims", ""]
    claims = sec.claim_blocks(it)
    for head, reviews in claims:
        out.append(f"- {_struck(head)}")
        out += [f"  - review: {_struck(r)}" for r in reviews]
    if not claims:
        out.append("(none)")
    verdict, pairs = sec.geo_check_lines(it)
    if verdict or pairs:
        out += ["", f"Consistency check: **{_md(verdict or '-')}**", ""]
        out += [f"- {_md(p)}" for p in pairs]
    points = svgmap.points_of(it)
    if points:
        out += ["", "Located points:", ""]
        out += _table(("point", "latitude", "longitude", "status"),
                      [(p.label, f"{p.latitude:.6f}", f"{p.longitude:.6f}", p.status or "")
                       for p in points])
    out += ["", "### Review and sign-off", ""]
    out += [f"- {_md(line.strip())}" for line in workflow_lines(it)] or ["(none)"]
    out += ["", "### Near-duplicates", ""]
    dupes = sec.near_duplicate_lines(it)
    out += [f"- {_md(line)}" for line, _ in dupes] or ["(none found)"]
    fixes = correction_lines(it)
    if fixes:
        out += ["", "### Corrections (nothing is deleted: each is an event)", ""]
        out += [f"- {_md(x)}" for x in fixes]
    blocks = sec.page_text_blocks(it)
    if blocks:
        out += ["", "### Text read off its pages", ""]
        for head, lines in blocks:
            out += [f"**{_md(head)}**", ""] + [f"> {_md(line)}  " for line in lines] + [""]
    out += ["", "### Events (hash-chained log)", ""]
    events = sec.event_rows(it)
    out += _table(sec.EVENT_HEADERS, [(*r[:4], _code(r[4]), _code(r[5])) for r in events])
    out.append("")
    return out
