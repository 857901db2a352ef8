"""Sensitive media: an item flagged graphic is previewed blurred and grey unless asked for.

The blur is made from the preview `thumbnail.for_item` renders, which comes only from an
original re-hashed to its name; this module never reads an original itself, so however
previews are rendered (Pillow, a video frame, a PDF page) the blurred one follows.
"""

from __future__ import annotations

import io
import sqlite3

from provenance.case import workflow
from provenance.report.thumbnail import Thumbnail, for_item

# The picture is shrunk to this many pixels on its longer side before it is blurred and
# enlarged again: no detail finer than a sixteenth of the frame survives, whatever a viewer
# does to the blurred file (sharpening cannot bring back what was averaged away).
COARSE_SIDE = 16


def blur_preview(data: bytes) -> bytes:
    """A rendered preview (any format Pillow reads), grey and blurred beyond recognition,
    as PNG at the preview's own size."""
    from PIL import Image, ImageFilter

    with Image.open(io.BytesIO(data)) as img:
        grey = img.convert("L")
    size = grey.size
    scale = COARSE_SIDE / max(size)
    coarse = grey.resize((max(1, round(size[0] * scale)), max(1, round(size[1] * scale))),
                         Image.Resampling.BOX)
    soft = coarse.resize(size, Image.Resampling.BILINEAR)
    soft = soft.filter(ImageFilter.GaussianBlur(radius=max(size) / 24))
    out = io.BytesIO()
    soft.save(out, "PNG", optimize=True)
    return out.getvalue()


def preview(conn: sqlite3.Connection, sha256: str, *, reveal: bool = False) -> Thumbnail:
    """The item's preview as a viewer or a report may show it: blurred while the item is
    flagged graphic, unless `reveal` (a viewer's click, or an export's --show-sensitive).
    A placeholder (no preview could be made) is returned as it is: it shows no picture."""
    thumb = for_item(conn, sha256)
    hidden = workflow.blurred(conn, sha256)
    if reveal or not hidden or thumb.reason is not None:
        return thumb
    return Thumbnail(blur_preview(thumb.data), "image/png")
