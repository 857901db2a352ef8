"""The HTML export and item page: one self-contained document, inline CSS, prints well."""

from __future__ import annotations

import json
from collections.abc import Callable
from html import escape
from typing import Any

from provenance.report import sections as sec
from provenance.report import svgmap
from provenance.report.collected import collected_lines
from provenance.report.corrections import Struck, correction_lines, label_lines
from provenance.report.workflow import figure, incident_block
from provenance.report.workflow import lines as workflow_lines

CSS = """
:root { color-scheme: light; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
  color: #1d1d1b; max-width: 60rem; margin: 1.5rem auto; padding: 0 1rem; }
h1 { font-size: 1.45rem; margin: 0 0 .3rem; }
h2 { font-size: 1.2rem; border-bottom: 2px solid #1d1d1b; padding-bottom: .2rem;
  margin-top: 2rem; word-break: break-all; }
h3 { font-size: 1rem; margin: 1.2rem 0 .4rem; text-transform: uppercase; letter-spacing: .04em;
  color: #4a4740; }
table { border-collapse: collapse; width: 100%; margin: .3rem 0; }
th, td { text-align: left; vertical-align: top; padding: .25rem .45rem;
  border-bottom: 1px solid #dedbd2; }
th { background: #f1efe9; font-weight: 600; }
td.k { width: 12rem; color: #4a4740; }
code, .hash { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace;
  font-size: .85em; word-break: break-all; }
.meta { color: #5c5950; }
.verify { padding: .6rem .8rem; border-left: 5px solid #2f7d32; background: #eef6ee; }
.verify.failed { border-color: #b3261e; background: #fbeceb; }
.verify.unchecked { border-color: #8a8475; background: #f1efe9; }
.flag { color: #8a4b00; }
.item-head { display: flex; gap: 1.2rem; align-items: flex-start; flex-wrap: wrap; }
.item-head figure { margin: 0; }
.item-head img { max-width: 320px; max-height: 320px; border: 1px solid #c9c4b6; }
figcaption { font-size: .8em; color: #5c5950; }
ol.timeline li, ul li { margin: .2rem 0; }
details summary { cursor: pointer; color: #4a4740; }
pre { white-space: pre-wrap; word-break: break-all; font-size: .8em; background: #f7f6f2;
  padding: .4rem; }
nav.prov { font-size: .9em; margin-bottom: 1rem; }
img.sensitive { cursor: pointer; }
.incident { padding: .6rem .8rem; border-left: 5px solid #4a4740; background: #f1efe9; }
.empty { color: #777; font-style: italic; }
del { color: #6b675e; }
.struck { color: #8a4b00; font-size: .9em; }
tr.struck td:not(:last-child) { text-decoration: line-through; color: #6b675e; }
@media print {
  body { margin: 0; max-width: none; font-size: 10.5pt; }
  nav.prov, details summary::marker { display: none; }
  section.item { break-before: page; }
  section.item:first-of-type { break-before: auto; }
  table, figure, svg, .verify, li { break-inside: avoid; }
  h2, h3 { break-after: avoid; }
  a { color: inherit; text-decoration: none; }
}
@page { margin: 16mm 14mm; }
"""


def render_html(
    doc: dict[str, Any],
    *,
    thumb_src: Callable[[str], str],
    item_href: Callable[[str], str] | None = None,
    nav: str = "",
    reveal_src: Callable[[str], str] | None = None,
    sensitive_shown: bool = False,
) -> str:
    """The whole document. `thumb_src` gives each preview's src (a data: URI when exporting);
    `item_href` links other items (the served page only: an export has no links).
    `reveal_src` (the served page) is where a click fetches a blurred item's real preview;
    an export has none, so its blurred previews stay blurred."""
    title = f"Provenance report: {sec.scope_text(doc)}"
    db = doc.get("database") or {}
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{escape(title)}</title><style>{CSS}</style></head><body>",
        nav,
        f"<h1>{escape(title)}</h1>",
        f'<p class="meta">Generated {escape(str(doc.get("generated_at")))} by'
        f" {escape(str(doc.get('generated_by')))} with prov"
        f" {escape(str(doc.get('prov_version')))} from database"
        f" <code>{escape(str(db.get('file')))}</code> (id"
        f" <code>{escape(str(db.get('database_id')))}</code>).</p>",
        _verify(doc),
        incident_block(doc.get("incident")),
    ]
    for it in doc.get("items") or []:
        parts.append(_item(it, thumb_src, item_href, reveal_src, sensitive_shown))
    parts.append(
        '<p class="meta">Each event\'s leaf hash is SHA-256 over its canonical JSON payload;'
        " its chain hash links it to the event before. <code>prov verify</code> re-checks both"
        " and re-hashes every stored original.</p></body></html>"
    )
    return "\n".join(parts) + "\n"


def _verify(doc: dict[str, Any]) -> str:
    if doc.get("verify") is None:
        return ('<p class="verify unchecked">Integrity: not checked for this page; run'
                " <code>prov verify</code>, or <code>prov export</code> for a report that"
                " includes the check.</p>")
    ok, lines = sec.verify_lines(doc)
    body = "<br>".join(escape(line) for line in lines)
    warn = "" if ok else ("<br><strong>The database did not verify when this report was made:"
                          " do not rely on it before the problems are explained.</strong>")
    return (f'<div class="verify{"" if ok else " failed"}" id="verify"><strong>Integrity at'
            f" export time (prov verify):</strong><br>{body}{warn}</div>")


def _rows(rows: list[tuple[str, str]], hash_keys: tuple[str, ...] = ()) -> str:
    cells = []
    for k, v in rows:
        value = f'<span class="hash">{escape(v)}</span>' if k in hash_keys else escape(v)
        cells.append(f'<tr><td class="k">{escape(k)}</td><td>{value}</td></tr>')
    return "<table>" + "".join(cells) + "</table>"


def _struck(text: str) -> str:
    """A line as HTML: struck through (<del>) with who/when/why, when retracted or
    superseded."""
    if isinstance(text, Struck):
        return f'<del>{escape(text)}</del> <span class="struck">({escape(text.note)})</span>'
    return escape(text)


def _grid(headers: tuple[str, ...], rows: list[tuple[str, ...]], mono: set[int],
          struck_col: int | None = None) -> str:
    """A table; with `struck_col`, a row whose cell there is not empty is struck through."""
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join(
        ('<tr class="struck">' if struck_col is not None and row[struck_col] else "<tr>")
        + "".join(
            f'<td class="hash">{escape(v)}</td>' if i in mono else f"<td>{escape(v)}</td>"
            for i, v in enumerate(row)) + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _item(it: dict[str, Any], thumb_src: Callable[[str], str],
          item_href: Callable[[str], str] | None,
          reveal_src: Callable[[str], str] | None = None, sensitive_shown: bool = False) -> str:
    sha = it["sha256"]
    first = (it.get("sightings") or [{}])[0]
    caption = escape(first.get("file_name") or sha[:12])
    out = [
        f'<section class="item" id="item-{escape(sha)}">',
        f"<h2>Item <span class=\"hash\">{escape(sha)}</span></h2>",
        '<div class="item-head">',
        figure(sha, caption, thumb_src, (it.get("workflow") or {}).get("blurred") or [],
               reveal_src, sensitive_shown),
        f'<div style="flex:1;min-width:18rem"><h3>Identity</h3>'
        f"{_rows(sec.identity_rows(it), ('SHA-256', 'MD5'))}</div></div>",
        "<h3>Metadata (from the file itself)</h3>",
    ]
    meta = sec.metadata_rows(it)
    out.append(_rows(meta) if meta else '<p class="empty">none</p>')
    labels = label_lines(it)
    if labels:
        out.append('<h3>Name, tags and notes</h3><ul id="labels">'
                   + "".join(f"<li>{_struck(x)}</li>" for x in labels) + "</ul>")
    out.append("<h3>Sightings</h3>")
    sightings = sec.sighting_rows(it)
    out.append(_grid(sec.SIGHTING_HEADERS, sightings, {2, 3},
                     struck_col=len(sec.SIGHTING_HEADERS) - 1) if sightings
               else '<p class="empty">none</p>')
    collected = collected_lines(it)
    if collected:
        out.append('<h3>Collected</h3><pre id="collected">' + escape("\n".join(collected))
                   + "</pre>")
    entries, flags = sec.custody_lines(it)
    out.append('<h3>Custody</h3><div id="custody">')
    if entries:
        out.append('<ol class="timeline">' + "".join(f"<li>{_struck(e)}</li>" for e in entries)
                   + "</ol>")
    else:
        out.append('<p class="empty">no custody events recorded</p>')
    out += [f'<p class="flag">⚑ {escape(f)}</p>' for f in flags]
    out.append("</div>")
    out.append(_claims(it))
    out.append('<h3>Map</h3><div id="map">' + svgmap.render(svgmap.points_of(it)) + "</div>")
    review = workflow_lines(it)
    out.append('<h3>Review and sign-off</h3><div id="workflow">' + (
        "<ul>" + "".join(f"<li>{escape(line.strip())}</li>" for line in review) + "</ul>"
        if review else '<p class="empty">none</p>') + "</div>")
    out.append("<h3>Near-duplicates</h3>")
    dupes = sec.near_duplicate_lines(it)
    if dupes:
        items = []
        for line, other in dupes:
            text = escape(line)
            if other and item_href is not None:
                text = f'<a href="{escape(item_href(other), quote=True)}">{text}</a>'
            items.append(f"<li>{text}</li>")
        out.append("<ul>" + "".join(items) + "</ul>")
    else:
        out.append('<p class="empty">none found</p>')
    fixes = correction_lines(it)
    if fixes:
        out.append('<h3>Corrections (nothing is deleted: each is an event)</h3><ul'
                   ' id="corrections">' + "".join(f"<li>{escape(x)}</li>" for x in fixes)
                   + "</ul>")
    blocks = sec.page_text_blocks(it)
    if blocks:
        out.append("<h3>Text read off its pages</h3>")
        for head, lines in blocks:
            out.append(f"<h4>{escape(head)}</h4><pre>{escape(chr(10).join(lines))}</pre>")
    out.append("<h3>Events (hash-chained log)</h3>")
    out.append(_events(it))
    out.append("</section>")
    return "\n".join(out)


def _claims(it: dict[str, Any]) -> str:
    out = ["<h3>Geolocation claims</h3>"]
    blocks = sec.claim_blocks(it)
    if not blocks:
        out.append('<p class="empty">none</p>')
    else:
        lis = []
        for head, reviews in blocks:
            sub = "".join(f"<li>review: {_struck(r)}</li>" for r in reviews)
            lis.append(f"<li>{_struck(head)}" + (f"<ul>{sub}</ul>" if sub else "") + "</li>")
        out.append("<ul>" + "".join(lis) + "</ul>")
    verdict, pairs = sec.geo_check_lines(it)
    if verdict or pairs:
        out.append(f"<p>Consistency check: <strong>{escape(verdict or '-')}</strong></p>")
        out.append("<ul>" + "".join(f"<li>{escape(p)}</li>" for p in pairs) + "</ul>")
    return "\n".join(out)


def _events(it: dict[str, Any]) -> str:
    events = it.get("events") or []
    if not events:
        return '<p class="empty">none</p>'
    table = _grid(sec.EVENT_HEADERS, sec.event_rows(it), {4, 5})
    payloads = "".join(
        f"<p><strong>event {escape(str(e.get('seq')))}</strong> ({escape(str(e.get('type')))})"
        f"</p><pre>{escape(json.dumps(e.get('data'), ensure_ascii=False, sort_keys=True))}</pre>"
        for e in events
    )
    return table + f"<details><summary>event payloads</summary>{payloads}</details>"
