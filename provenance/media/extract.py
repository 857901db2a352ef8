"""One entry point per file: metadata and perceptual hashes for whatever kind it is."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..errors import BadInput

# Pixels above which an image is refused as a decompression bomb. Generous:
# a 200-megapixel phone sensor (16320 x 12240) still goes in.
MAX_PIXELS = 250_000_000
# Longest side images are decoded at for hashing (JPEG draft mode gets close
# to this for free by decoding at 1/2, 1/4 or 1/8 scale).
DECODE_SIZE = 512


@dataclass
class Extracted:
    metadata: dict[str, Any] = field(default_factory=dict)
    raw_metadata: dict[str, Any] = field(default_factory=dict)
    hashes: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    mime: str | None = None


def extract(path: str, kind: str, mime: str) -> Extracted:
    if kind in ("image", "scan") and mime != "application/pdf":
        return extract_image(path)
    if kind == "video":
        return extract_video(path)
    if kind in ("document", "scan"):
        return extract_document(path)
    return Extracted()


def extract_image(path: str) -> Extracted:
    from . import image

    with open(path, "rb") as fh:
        data = fh.read()
    out = Extracted()
    pixels = decode_image(data, path)
    out.metadata["width"], out.metadata["height"] = pixels.size_before_orientation
    meta, raw, warnings = image.read_exif(data)
    out.metadata.update(meta)
    out.raw_metadata = {"exif": raw}
    out.warnings.extend(warnings)
    out.hashes = pixels.hashes
    if pixels.format_mime:
        out.mime = pixels.format_mime
    return out


@dataclass
class Decoded:
    size_before_orientation: tuple[int, int]
    hashes: list[dict[str, Any]]
    format_mime: str | None


def decode_image(data: bytes, subject: str) -> Decoded:
    """Decode once at reduced scale, refusing bombs and broken files; hash the pixels."""
    import io
    import warnings

    from PIL import Image, UnidentifiedImageError

    _register_heif()
    Image.MAX_IMAGE_PIXELS = MAX_PIXELS
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
            width, height = img.size
            if width * height > MAX_PIXELS:
                raise BadInput(subject, _bomb(width, height))
            fmt_mime = Image.MIME.get(img.format or "")
            if img.format == "JPEG":
                img.draft("RGB", (DECODE_SIZE, DECODE_SIZE))
            img.load()
            hashes = _hash_records(img)
    except BadInput:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise BadInput(subject, "image is a decompression bomb (too many pixels)") from None
    except UnidentifiedImageError:
        raise BadInput(subject, "image cannot be decoded: unknown or corrupt format") from None
    except (OSError, SyntaxError, ValueError, EOFError, IndexError) as exc:
        reason = str(exc) or type(exc).__name__
        if "truncated" in reason:
            reason = "image data is truncated"
        raise BadInput(subject, f"image cannot be decoded: {reason}") from None
    return Decoded((width, height), hashes, fmt_mime)


def _hash_records(img: Any) -> list[dict[str, Any]]:
    # Wired to the perceptual hash family once provenance.hashing lands.
    return []


def _bomb(width: int, height: int) -> str:
    return (
        f"image claims {width} x {height} pixels ({width * height / 1e6:.0f} Mpx), over the"
        f" {MAX_PIXELS / 1e6:.0f} Mpx limit: refused as a possible decompression bomb"
    )


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
    return video.extract(path)  # type: ignore[attr-defined]


def extract_document(path: str) -> Extracted:
    try:
        from . import document
    except ImportError:
        return Extracted(warnings=["document metadata not extracted (no PDF support)"])
    return document.extract(path)  # type: ignore[attr-defined]
