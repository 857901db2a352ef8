"""The review workflow of an item (status, sign-offs, flags, incidents) as report lines."""

from __future__ import annotations

from collections.abc import Callable
from html import escape
from typing import Any


def lines(it: dict[str, Any]) -> list[str]:
    """The item's workflow as lines of text, shared by every rendering (text, Markdown,
    HTML): who set which status, who reviewed whose work and why, flags, incidents."""
    wf = it.get("workflow")
    if not wf:
        return []
    lines = [f"status: {wf['status']}" + (f", assigned to {wf['assignee']}"
                                          if wf.get("assignee") else "")]
    steps: list[tuple[int, str]] = []
    for c in wf.get("status_history") or []:
        who = f", assigned to {c['assignee_name']}" if c.get("assignee_name") else ""
        note = f" — {c['note']}" if c.get("note") else ""
        steps.append((c["id"], f"  {c['recorded_at']} {c['recorded_by']} set {c['status']}"
                               f"{who}{note}"))
    for r in wf.get("reviews") or []:
        steps.append((r["id"], f"  {r['recorded_at']} {r['recorded_by']} {r['decision']} the"
                               f" work {r['submitted_by']} submitted ({r['submitted_at']}):"
                               f" {r['reason']}"))
    lines += [text for _, text in sorted(steps)]
    if wf.get("flags"):
        lines.append("flags: " + ", ".join(wf["flags"]))
    if wf.get("incidents"):
        lines.append("incidents: " + ", ".join(i["name"] for i in wf["incidents"]))
    return lines



def figure(sha: str, caption: str, thumb_src: Callable[[str], str], blurred: list[str],
           reveal_src: Callable[[str], str] | None, shown: bool) -> str:
    """The preview's <figure> (`caption` already escaped). An item flagged graphic shows the
    blurred preview; on the served page a click swaps in the real one, fetched only then."""
    src = escape(thumb_src(sha), quote=True)
    plain = f"{caption} (preview, not the original)"
    if not blurred or shown:
        note = (f"; flagged {escape(', '.join(blurred))}, shown unblurred (--show-sensitive)"
                if blurred else "")
        return (f'<figure><img class="thumbnail" src="{src}" alt="preview of {caption}">'
                f"<figcaption>{plain}{note}</figcaption></figure>")
    flags = escape(", ".join(blurred), quote=True)
    if reveal_src is None:
        return (f'<figure><img class="thumbnail sensitive" src="{src}" data-flags="{flags}"'
                f' alt="blurred preview of {caption}"><figcaption>{plain}; sensitive'
                f" ({flags}): blurred, and this report carries no unblurred picture"
                " (prov export --show-sensitive makes one that does)</figcaption></figure>")
    reveal = escape(reveal_src(sha), quote=True)
    click = ("if(this.dataset.reveal){this.src=this.dataset.reveal;delete this.dataset.reveal;"
             "this.className='thumbnail revealed';"
             "this.nextElementSibling.textContent='shown at your request'}")
    return (f'<figure><img class="thumbnail sensitive" src="{src}" data-flags="{flags}"'
            f' data-reveal="{reveal}" alt="blurred preview of {caption}"'
            f' title="sensitive ({flags}): click to show" onclick="{escape(click, quote=True)}">'
            f"<figcaption>{plain}; sensitive ({flags}): blurred, click the picture to show it"
            "</figcaption></figure>")


def incident_block(incident: dict[str, Any] | None) -> str:
    """An incident export's head: when, where, related incidents."""
    if not incident:
        return ""
    rows = [("incident", str(incident["name"])),
            ("when", incident["when"]["display"] if incident.get("when") else "undated")]
    if incident.get("latitude") is not None:
        rows.append(("where", f"{incident.get('place') or ''} ({incident['latitude']:.5f},"
                              f" {incident['longitude']:.5f}, ±{incident['radius_m']:g} m)"))
    if incident.get("note"):
        rows.append(("note", str(incident["note"])))
    if incident.get("related"):
        rows.append(("related", ", ".join(r["name"] for r in incident["related"])))
    rows.append(("recorded", f"{incident['recorded_at']} by {incident['recorded_by']}"))
    cells = "".join(f'<tr><td class="k">{escape(k)}</td><td>{escape(v)}</td></tr>'
                    for k, v in rows)
    return f'<div class="incident" id="incident"><table>{cells}</table></div>'


def incident_page(incident: dict[str, Any], *, thumb_src: Callable[[str], str],
                  item_href: Callable[[str], str], incident_href: Callable[[str], str],
                  nav: str = "", css: str = "") -> str:
    """The served page of one incident: when and where, its items with their status and
    assignee (previews blurred as on the item page), related incidents."""
    rows = []
    for it in incident["items"]:
        sha = str(it["sha256"])
        img = (f'<img src="{escape(thumb_src(sha), quote=True)}" alt="" loading="lazy"'
               ' style="max-width:96px;max-height:72px" title="click to show, if blurred as'
               " sensitive\" onclick=\"if(!this.src.endsWith('?reveal=1')){this.src+="
               "'?reveal=1'}\">")
        rows.append(
            f"<tr><td>{img}</td><td><a href=\"{escape(item_href(sha), quote=True)}\">"
            f'<code>{sha[:12]}</code>…</a></td><td>{escape(str(it["file_name"] or "-"))}</td>'
            f'<td>{escape(str(it["status"]))}</td><td>{escape(str(it["assignee"] or "-"))}</td>'
            f'<td>{escape(str(it["flags"] or ""))}</td>'
            f'<td>{escape(str(it["linked_by"]))}, {escape(str(it["linked_at"]))}</td></tr>')
    table = ("<table><thead><tr><th></th><th>item</th><th>file</th><th>status</th>"
             "<th>assignee</th><th>flags</th><th>linked</th></tr></thead><tbody>"
             + "".join(rows) + "</tbody></table>") if rows else '<p class="empty">no items</p>'
    related = "".join(f'<li><a href="{escape(incident_href(r["name"]), quote=True)}">'
                      f'{escape(r["name"])}</a></li>' for r in incident["related"])
    name = escape(str(incident["name"]))
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Incident: {name}'
            f"</title><style>{css}</style></head><body>{nav}<h1>Incident: {name}</h1>"
            f"{incident_block(incident)}<h3>Items</h3>{table}<h3>Related incidents</h3>"
            + (f"<ul>{related}</ul>" if related else '<p class="empty">none</p>')
            + "</body></html>\n")
