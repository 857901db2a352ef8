"""The "Collected" section of an item's report: the capture records it belongs to."""

from __future__ import annotations

import json
import sqlite3
from typing import Any


def collected_for_item(conn: sqlite3.Connection, sha256: str) -> list[dict[str, Any]]:
    """Every capture that wrote this item (as archive, media, screenshot or PDF), oldest first."""
    try:
        rows = conn.execute(
            "SELECT c.id, c.record_json, c.recorded_at, c.recorded_by,"
            " (SELECT group_concat(DISTINCT f.role) FROM capture_files f"
            "   WHERE f.capture = c.id AND f.item = ?) AS roles"
            " FROM captures c WHERE c.archive = ?"
            " OR c.id IN (SELECT capture FROM capture_files WHERE item = ?) ORDER BY c.id",
            (sha256, sha256, sha256)).fetchall()
    except sqlite3.OperationalError:
        return []  # a database from before captures existed (read-only, not migrated)
    out = []
    for r in rows:
        record = json.loads(r["record_json"])
        out.append({"capture": r["id"], "role": r["roles"], "recorded_at": r["recorded_at"],
                    "recorded_by": r["recorded_by"], "record": record})
    return out


def collected_lines(doc: dict[str, Any]) -> list[str]:
    """Plain lines, one fact each, shared by `prov show`, Markdown and HTML exports."""
    out: list[str] = []
    for c in doc.get("collected") or []:
        rec = c["record"]
        state = "GONE AT SOURCE" if rec.get("gone_at_source") else "captured"
        out.append(f"capture {c['capture']}: {state} {rec['url']} at {rec['captured_at']}"
                   f" by {rec.get('investigator')} (this item: {c['role']})")
        chain = rec.get("status_chain") or []
        out.append("  status chain: " + " -> ".join(
            f"{h['status']} {h['url']} [{h.get('ip')}]" for h in chain))
        tls = next((h["tls"] for h in chain if h.get("tls")), None)
        if tls:
            out.append(f"  TLS {tls.get('version')}: {tls.get('subject')} issued by"
                       f" {tls.get('issuer')}; chain SHA-256 "
                       + ", ".join(s[:16] for s in tls.get("chain_sha256") or []))
        out.append(f"  persona: {rec.get('persona') or '-'}; VPN/exit: {rec.get('vpn') or '-'};"
                   f" proxies: {_pairs(rec.get('proxies')) or 'none'}")
        clock = rec.get("clock") or {}
        out.append(f"  clock: {clock.get('utc')} UTC, local {clock.get('local')}"
                   f" ({clock.get('zone')})")
        machine = rec.get("machine") or {}
        out.append(f"  machine: {machine.get('hostname')}, addresses "
                   f"{', '.join(machine.get('local_addresses') or []) or '-'}")
        out.append(f"  user agent: {rec.get('user_agent')}; tools: {_pairs(rec.get('tools'))}")
        for f in rec.get("files") or []:
            sha = (f.get("sha256") or "-")[:12]
            extra = ""
            info = f.get("yt_dlp") or {}
            if info:
                extra = "  yt-dlp: " + _pairs({k: info[k] for k in
                                               ("extractor", "id", "title", "uploader",
                                                "upload_date") if info.get(k)})
            out.append(f"  {f['role']:<10} {f['status']:<9} {sha:<12} {f.get('url')}{extra}")
        for w in rec.get("written") or []:
            out.append(f"  wrote {w['name']}: sha256 {w['sha256']}")
        for change in rec.get("changes") or []:
            out.append(f"  changed: {change}")
    return out


def _pairs(d: dict[str, Any] | None) -> str:
    return ", ".join(f"{k} {v}" for k, v in (d or {}).items())
