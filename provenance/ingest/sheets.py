"""Whether the sheet in a plain photo is OCR'd at registration: only when a page it could be
a photograph of has text to compare with (held already, or arriving in the same batch).

Images of kind `image` are OCR'd only when asked (`--ocr`, `prov ocr`); the one exception is
the sheet a photo shows, read to name the page it photographs (ingest/pagematch.py). With no
page text held, that reading can name no page and check no page link (both need a held
page's text), so it would only cost seconds per photo and record text nobody asked for.
"""

from __future__ import annotations

import dataclasses
import sqlite3

from provenance.ingest import reading
from provenance.media import sniff


def pages_held(conn: sqlite3.Connection) -> bool:
    """Does any held item have text on a page (a text layer or OCR)?"""
    return conn.execute("SELECT 1 FROM page_text LIMIT 1").fetchone() is not None


def plan_for(conn: sqlite3.Connection, plan: reading.Plan | None, paths: list[str],
             kind: str | None) -> reading.Plan | None:
    """The plan with sheet reading on only where it can name a page: page text held, or a
    PDF (or scans) among the files being added."""
    if plan is None or not plan.sheets or plan.every_image:
        return plan
    if pages_held(conn) or kind in ("scan", "document") or any(map(_is_pdf, paths)):
        return plan
    return dataclasses.replace(plan, sheets=False)


def _is_pdf(path: str) -> bool:
    try:
        with open(path, "rb") as fh:
            return sniff.sniff_mime(fh.read(sniff.SNIFF_BYTES)) == "application/pdf"
    except OSError:
        return False  # analysis reports what is wrong with the file
