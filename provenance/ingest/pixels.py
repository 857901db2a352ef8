"""Pixels of files that arrive by another way than `prov add` (a bundle), under add's limits."""

from __future__ import annotations

from pathlib import Path

from provenance.matching.hashing import MAX_PIXELS, load_image, pixel_size
from provenance.media.sniff import SNIFF_BYTES, sniff_mime


def check_pixels(path: Path, kind: str, mime: str) -> None:
    """Decode what `prov add` would decode of this file, under the same pixel limits;
    BadInput when add would refuse it. A picture is judged by its bytes, whatever the
    sender calls it, so a corrupt picture labelled "other" is still decoded and refused. One
    over the pixel limit is taken in undecoded, as `prov add` registers it (nothing decodes
    it later: matching, OCR and thumbnails check the same limit first)."""
    with open(path, "rb") as fh:
        actual = sniff_mime(fh.read(SNIFF_BYTES))
    if "application/pdf" in (actual, mime):
        return  # a scanned PDF's pages are rendered by PyMuPDF at a fixed size, not decoded
    if actual.startswith("image/") or mime.startswith("image/") or kind in ("image", "scan"):
        size = pixel_size(path)
        if size is not None and size[0] * size[1] > MAX_PIXELS:
            return
        load_image(path, name=path.name)
