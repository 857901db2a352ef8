"""The text read off an item's pages (the `page_text` projection), for show and exports."""

from __future__ import annotations

import sqlite3
from typing import Any


def page_texts(conn: sqlite3.Connection, sha256: str) -> list[dict[str, Any]]:
    """The item's page text, page by page (text layer before OCR), each with what read it."""
    rows = conn.execute(
        "SELECT page, source, text, engine, engine_version, languages, event_id, recorded_at,"
        " recorded_by FROM page_text WHERE item_id = ?"
        " ORDER BY page, CASE source WHEN 'text-layer' THEN 0 ELSE 1 END", (sha256,))
    return [dict(r) for r in rows]
