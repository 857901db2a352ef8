"""Previews of items (images, scans, a video's first frame, a PDF's first page) or a placeholder."""

from __future__ import annotations

import io
import sqlite3
import warnings
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Any

from provenance.errors import BadInput
from provenance.ledger.evidence import EvidenceStore
from provenance.media.exif import register_heif

MAX_SIDE = 320
PREVIEWABLE_KINDS = {"image", "scan", "video", "document"}


@dataclass(frozen=True)
class Thumbnail:
    data: bytes
    mime: str
    # Why there is no real preview, when there is none (shown beside the placeholder).
    reason: str | None = None


def for_item(conn: sqlite3.Connection, sha256: str, max_side: int = MAX_SIDE) -> Thumbnail:
    """A JPEG preview of the item's own bytes, or an SVG placeholder saying why not."""
    row = conn.execute("SELECT kind, mime, stored FROM items WHERE sha256 = ?",
                       (sha256,)).fetchone()
    if row is None:
        return placeholder("?", "no such item")
    kind, mime = str(row["kind"]), str(row["mime"])
    previewable = mime.startswith(("image/", "video/")) or mime == "application/pdf"
    if kind not in PREVIEWABLE_KINDS or not previewable:
        return placeholder(kind, f"no preview for {mime}")
    # A preview must show the registered bytes, not whatever now sits at the path.
    store = EvidenceStore.beside(conn)
    source = store.locate_original(conn, sha256)
    # A damaged store is shown as damaged, even when a sighted copy still matches.
    if source is None or (row["stored"] and source != store.path_of(sha256)):
        if next(store.copies(conn, sha256), None) is None:
            return placeholder(kind, "no copy of the original is reachable")
        return placeholder(kind, "the copy no longer matches its hash: run prov verify")
    try:
        if mime.startswith("video/"):
            return Thumbnail(_still(_first_frame(source), max_side), "image/jpeg")
        if mime == "application/pdf":
            return Thumbnail(_still(_first_page(source), max_side), "image/jpeg")
        return Thumbnail(render(source, max_side), "image/jpeg")
    except BadInput as exc:
        return placeholder(kind, exc.reason)
    except Exception as exc:  # noqa: BLE001 - a preview is never evidence: a decoder's
        # failure, whatever it raises, is shown as the placeholder naming it, not a crash
        # of `prov export` or of the server.
        return placeholder(kind, f"preview failed ({type(exc).__name__})")


def _first_frame(path: Path) -> Any:
    from provenance.media.video.sampling import sample_frames

    for _seconds, img in sample_frames(str(path)):
        return img
    raise ValueError("no frame")


def _first_page(path: Path) -> Any:
    from provenance.media.document import render_pages

    for _page, img in render_pages(str(path)):
        return img
    raise ValueError("no page")


def _still(img: Any, max_side: int) -> bytes:
    """A video frame or a PDF page, as a small JPEG preview."""
    img = img.convert("RGB")
    img.thumbnail((max_side, max_side))
    out = io.BytesIO()
    img.save(out, "JPEG", quality=82)
    return out.getvalue()


def pixel_limit() -> int:
    """prov's pixel limit, the one `prov add` decodes under."""
    from PIL import Image

    from provenance.matching.hashing import MAX_PIXELS

    return min(MAX_PIXELS, Image.MAX_IMAGE_PIXELS or MAX_PIXELS)


def render(path: Path, max_side: int = MAX_SIDE) -> bytes:
    """Decode at reduced scale where the format allows it, upright, as a small JPEG."""
    from PIL import Image, ImageOps

    register_heif()
    limit = pixel_limit()
    with warnings.catch_warnings():
        # Pillow only warns between 1x and 2x its own limit; a preview refuses, as `add` does.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            source = Image.open(path)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise BadInput(str(path), f"over prov's {limit:,}-pixel limit") from None
    with source:
        if source.width * source.height > limit:
            raise BadInput(str(path), f"{source.width}x{source.height} px, over prov's"
                           f" {limit:,}-pixel limit")
        source.draft("RGB", (max_side, max_side))
        img = ImageOps.exif_transpose(source)
        img.thumbnail((max_side, max_side))
        if img.mode != "RGB":
            background = Image.new("RGB", img.size, "white")
            rgba = img.convert("RGBA")
            background.paste(rgba, mask=rgba.getchannel("A"))
            img = background
        out = io.BytesIO()
        img.save(out, "JPEG", quality=82)
        return out.getvalue()


def placeholder(kind: str, reason: str) -> Thumbnail:
    label = escape(kind.upper()[:10])
    svg = (
        '<svg xmlns="http://www.w3.org/2000/svg" width="240" height="160"'
        ' viewBox="0 0 240 160" role="img">'
        f"<title>{escape(reason)}</title>"
        '<rect width="240" height="160" fill="#eceae4" stroke="#b9b4a7"/>'
        f'<text x="120" y="76" font-family="sans-serif" font-size="22" fill="#6b6658"'
        f' text-anchor="middle">{label}</text>'
        f'<text x="120" y="104" font-family="sans-serif" font-size="11" fill="#6b6658"'
        f' text-anchor="middle">{escape(reason[:40])}</text></svg>'
    )
    return Thumbnail(svg.encode(), "image/svg+xml", reason)
