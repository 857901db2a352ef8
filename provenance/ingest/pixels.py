"""Pixels of files that arrive by another way than `prov add` (a bundle), under add's limits."""

from __future__ import annotations

from pathlib import Path

from provenance.matching.hashing import load_image
from provenance.media.sniff import SNIFF_BYTES, sniff_mime


def check_pixels(path: Path, kind: str, mime: str) -> None:
    """Decode what `prov add` would decode of this file, under the same pixel limits;
    BadInput when add would refuse it. A picture is judged by its bytes, whatever the
    sender calls it, so a decompression bomb labelled "other" is still decoded and refused."""
    with open(path, "rb") as fh:
        actual = sniff_mime(fh.read(SNIFF_BYTES))
    if "application/pdf" in (actual, mime):
        return  # a scanned PDF's pages are rendered by PyMuPDF at a fixed size, not decoded
    if actual.startswith("image/") or mime.startswith("image/") or kind in ("image", "scan"):
        load_image(path, name=path.name)
