"""One entry point per file: metadata and perceptual hashes for whatever kind it is."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Extracted:
    metadata: dict[str, Any] = field(default_factory=dict)
    raw_metadata: dict[str, Any] = field(default_factory=dict)
    hashes: list[dict[str, Any]] = field(default_factory=list)
    # Searched with, never stored: the dihedral PDQ variants of the picture.
    query_hashes: list[dict[str, Any]] = field(default_factory=list)
    # ORB keypoints for the crop stage: a derived cache beside the store, not evidence.
    features: dict[str, Any] | None = None
    warnings: list[str] = field(default_factory=list)
    mime: str | None = None


def extract(path: str, kind: str, mime: str, data: bytes | None = None) -> Extracted:
    if kind in ("image", "scan") and mime != "application/pdf":
        return extract_image(path, data)
    if kind == "video":
        return extract_video(path)
    if kind in ("document", "scan"):
        return extract_document(path)
    return Extracted()


def extract_image(path: str, data: bytes | None = None) -> Extracted:
    """EXIF, pixel size, perceptual hashes, query variants and keypoints: one decode."""
    import io

    from PIL import Image

    from .. import hashing
    from . import image

    if data is None:
        with open(path, "rb") as fh:
            data = fh.read()
    out = Extracted()
    img = hashing.load_image(data, name=path)
    try:
        with Image.open(io.BytesIO(data)) as probe:  # header only: the stored pixel size
            out.metadata["width"], out.metadata["height"] = probe.size
            out.mime = Image.MIME.get(probe.format or "")
    except (OSError, ValueError):  # load_image already decoded it; the header read cannot fail
        pass
    meta, raw, warnings = image.read_exif(data)
    out.metadata.update(meta)
    out.raw_metadata = {"exif": raw}
    out.warnings.extend(warnings)
    hashes, query, features = hash_pixels(img)
    out.hashes, out.query_hashes, out.features = hashes, query, features
    return out


def hash_pixels(
    img: Any, *, frame_seconds: float | None = None, page: int | None = None, features: bool = True
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[str, Any] | None]:
    """(stored hash rows, query-only hashes, keypoints) of one decoded picture.

    Stored: whole-picture PDQ and pHash, and PDQ of sub-region windows (region "c80", "tl90",
    ...; see hashing.REGIONS) so a crop of this picture is found later. Query-only: the
    rotated and mirrored PDQ and pHash.
    """
    from .. import hashing

    hashed = hashing.hash_picture(img)
    box = hashed.trimmed
    rows = [_row(h, frame_seconds, page) for h in hashed.stored]
    query = [_row(h, frame_seconds, page) for h in hashed.query]
    keypoints = None
    if features:
        from ..localmatch import local_features

        trimmed = img if box == (0, 0, img.width, img.height) else img.crop(box)
        f = local_features(trimmed, mirrored=True)
        keypoints = {"points": f.points.tobytes(), "descriptors": f.descriptors.tobytes(),
                     "count": int(len(f.points))}
    return rows, query, keypoints


def _row(h: Any, frame_seconds: float | None, page: int | None) -> dict[str, Any]:
    return {"algorithm": h.algorithm, "region": h.region, "value": h.value.hex(),
            "quality": h.quality, "frame_seconds": frame_seconds, "page": page}


def _register_heif() -> None:
    try:
        import pillow_heif

        pillow_heif.register_heif_opener()
    except ImportError:  # pragma: no cover - a declared dependency
        pass


def extract_video(path: str) -> Extracted:
    try:
        from . import video
    except ImportError:
        return Extracted(warnings=["video metadata not extracted (no video support)"])
    return video.extract(path)


def extract_document(path: str) -> Extracted:
    try:
        from . import document
    except ImportError:
        return Extracted(warnings=["document metadata not extracted (no PDF support)"])
    return document.extract(path)
