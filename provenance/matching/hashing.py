"""Perceptual hashes of images: one reduced-scale decode, border trimming, PDQ, pHash, verdicts."""

from __future__ import annotations

import io
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from provenance.errors import BadInput
from provenance.matching.pdq import DIHEDRAL, Picture, pack_bits
from provenance.media.exif import register_heif

if TYPE_CHECKING:  # PIL and numpy cost ~100 ms to import; `prov --help` must not pay it.
    import numpy as np
    from PIL import Image

# --- thresholds --------------------------------------------------------------------------
# PDQ: 256 bits. Meta's ThreatExchange reference treats Hamming distance <= 31 as the same
# image; distinct photos sit near 128 (our benchmark's closest distinct pair: see
# bench/README-hashing.md). Quality is PDQ's own gradient score (for a picture under 64 px,
# the same score on its own pixels: native_quality): below 50 the image is too flat (a wall,
# a black frame) for its hash to carry information, so such hashes never link items
# automatically, they can only be offered for review.
PDQ_MATCH = 31
PDQ_SIMILAR = 63  # up to here: shown to a human as "similar", never called a re-upload
PDQ_MIN_QUALITY = 50
PDQ_GRID = 64  # PDQ hashes a 64x64 reduction of the picture
# pHash (imagehash, 64 bits): its distinct-photo distances are far more spread than PDQ's
# (our closest distinct pair: 16), so alone it only ever suggests; it confirms a PDQ
# near-miss (PDQ in the similar band and pHash <= PHASH_MATCH) as a re-upload.
PHASH_MATCH = 6
PHASH_SIMILAR = 12
# Images are decoded (hashed, given keypoints, OCR'd) up to this many pixels by default
# (`prov add --max-pixels`): Pillow's own guard, which prov has always decoded under. A PNG or
# TIFF that large takes about 270 MB as RGB, and up to about 1 GB while it is normalised. A
# larger image is registered without being decoded (ingest/extract.py), never refused.
MAX_PIXELS = 89_478_485
# Hashes are computed on the image fitted within TARGET x TARGET: PDQ works on 64x64 and
# pHash on 32x32 internally, so more pixels only cost decode time.
TARGET = 512
# Trimming and hashing run on a copy reduced to this longest side: PDQ costs time in proportion
# to pixels (12 ms at 512 px, 3 ms at 384). Measured, not guessed: at 256 px rotated and mirrored
# copies drift up to 42 bits from the upright hash (PDQ's box filters see the pixel grid
# differently), at 384 px at most 12 bits.
HASH_SIDE = 384
# Background that transparent pixels are flattened onto; re-posting tools flatten on white.
BACKGROUND = (255, 255, 255)

Verdict = str  # "identical" | "re-upload" | "similar"


@dataclass(frozen=True)
class PerceptualHash:
    """One hash of one image (or one region of it), as stored: raw bytes, hex only for display."""

    algorithm: str  # "pdq" | "phash"
    value: bytes  # pdq: 32 bytes, phash: 8 bytes
    quality: int | None  # PDQ quality 0-100; None for pHash
    region: str = "full"

    def to_hex(self) -> str:
        return self.value.hex()

    def to_row(self, frame_seconds: float | None = None, page: int | None = None
               ) -> dict[str, Any]:
        """The stored row form (what `item.registered` carries); `from_rows` reads it back."""
        return {"algorithm": self.algorithm, "region": self.region, "value": self.value.hex(),
                "quality": self.quality, "frame_seconds": frame_seconds, "page": page}


@dataclass(frozen=True)
class ImageHashes:
    """Everything ingest stores for one image file; plain values so it pickles across processes."""

    width: int  # of the decoded, upright image (after load_image's reduction to TARGET)
    height: int
    trimmed: tuple[int, int, int, int]  # box kept by trim_borders, in reduced-image pixels
    hashes: tuple[PerceptualHash, ...]

    def get(self, algorithm: str, region: str = "full") -> PerceptualHash | None:
        return next((h for h in self.hashes if (h.algorithm, h.region) == (algorithm, region)),
                    None)


def from_rows(rows: list[dict[str, Any]]) -> list[PerceptualHash]:
    """Hashes from their stored row form (algorithm, hex value, quality, region): the inverse
    of `PerceptualHash.to_row`."""
    return [PerceptualHash(r["algorithm"], bytes.fromhex(r["value"]), r.get("quality"),
                           r.get("region") or "full") for r in rows]


def to_hex(value: bytes) -> str:
    return value.hex()


def from_hex(text: str) -> bytes:
    try:
        return bytes.fromhex(text.strip())
    except ValueError:
        raise BadInput(text, "not a hexadecimal hash") from None


def hamming(a: bytes, b: bytes) -> int:
    if len(a) != len(b):
        raise ValueError(f"hashes of different lengths: {len(a)} and {len(b)} bytes")
    return (int.from_bytes(a, "big") ^ int.from_bytes(b, "big")).bit_count()


# --- decoding ----------------------------------------------------------------------------



def _open(fp: IO[bytes]) -> Image.Image:
    """Image.open, with pillow-heif's opener registered only once Pillow alone cannot tell
    the format: importing it costs every `prov match` of a JPEG 10-20 ms."""
    from PIL import Image, UnidentifiedImageError

    try:
        return Image.open(fp)
    except UnidentifiedImageError:
        if not register_heif():
            raise
    fp.seek(0)
    return Image.open(fp)


@contextmanager
def pixel_guard(limit: int | None) -> Iterator[None]:
    """Pillow's decompression-bomb guard set to `limit` pixels (None: off) for the block, and
    its warning turned into an error: prov's limit, not Pillow's default, decides."""
    from PIL import Image

    before = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = limit
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            yield
    finally:
        Image.MAX_IMAGE_PIXELS = before


def pixel_size(source: bytes | Path) -> tuple[int, int] | None:
    """(width, height) as the image's header states them, without decoding a pixel; None when
    Pillow (or pillow-heif) cannot read the header."""
    try:
        fp = io.BytesIO(source) if isinstance(source, bytes) else open(source, "rb")  # noqa: SIM115
    except OSError:
        return None
    try:
        with pixel_guard(None), _open(fp) as img:
            return int(img.width), int(img.height)
    except Exception:  # noqa: BLE001 - any header Pillow cannot read: load_image says why
        return None
    finally:
        fp.close()


def load_image(source: bytes | Path, *, target: int = TARGET, name: str | None = None,
               max_pixels: int | None = None) -> Image.Image:
    """Decode once, upright, RGB, fitted within target x target; BadInput if it cannot be,
    or if it has more than `max_pixels` pixels (default MAX_PIXELS)."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    subject = name or (str(source) if isinstance(source, Path) else "image")
    limit = MAX_PIXELS if max_pixels is None else max_pixels
    try:
        fp = io.BytesIO(source) if isinstance(source, bytes) else open(source, "rb")  # noqa: SIM115
    except OSError as exc:
        raise BadInput(subject, f"cannot read file ({exc.strerror or exc})") from None
    try:
        # Pillow only warns between 1x and 2x its limit; decoding must stop at prov's.
        with pixel_guard(limit):
            img: Image.Image = _open(fp)
            if img.width * img.height > limit:
                raise BadInput(subject, f"{img.width}x{img.height} pixels exceeds the "
                               f"{limit:,}-pixel limit (possible decompression bomb)")
            if img.format == "JPEG":
                # libjpeg decodes at 1/2, 1/4 or 1/8 scale directly: the main ingest saving.
                # Ask for the hashing size, proportionally: libjpeg then picks the coarsest
                # scale still at least that big (1/8 for a 12 MP photo, not 1/4).
                scale = min(HASH_SIDE, target) / max(img.size)
                img.draft("RGB", (max(1, int(img.width * scale)), max(1, int(img.height * scale))))
            img = ImageOps.exif_transpose(img) or img  # also loads; first frame of GIF/APNG
            img.load()
    except BadInput:
        raise
    except UnidentifiedImageError:
        raise BadInput(subject, "not an image format Pillow or pillow-heif can read") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise BadInput(subject, f"possible decompression bomb ({exc})") from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise BadInput(subject, f"corrupt or truncated image ({exc})") from None
    finally:
        fp.close()
    return _normalise(img, target)


def _normalise(img: Image.Image, target: int) -> Image.Image:
    from PIL import Image

    if img.mode in ("RGBA", "LA", "PA") or "transparency" in img.info:
        rgba = img.convert("RGBA")
        flat = Image.new("RGBA", rgba.size, (*BACKGROUND, 255))
        flat.alpha_composite(rgba)
        img = flat
    if img.mode != "RGB":
        img = img.convert("RGB")
    if max(img.size) > target:
        scale = target / max(img.size)
        size = (max(1, round(img.width * scale)), max(1, round(img.height * scale)))
        img = img.resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0)
    return img


# --- border trimming ---------------------------------------------------------------------

TRIM_TOLERANCE = 10  # per-channel difference still "the border colour": JPEG noise, not sky
TRIM_LINE_FRACTION = 0.97  # share of a row/column that must be border colour
TRIM_ISLAND = 0.10  # content runs thinner than this (status bars, captions) are border too
# A pad is flat: its brightness, averaged over TRIM_CHUNK pixels along the line, stays within
# TRIM_FLATNESS of the border colour's (JPEG ringing averages out; brightness, not colour,
# because chroma subsampling smears a saturated pad by 5-7 levels). Low-contrast content (a
# dimmed microscope field) can have 97% of a row within TRIM_TOLERANCE, and was being cut
# away as border, but its brightness drifts 3-18 levels over a stretch of the line.
TRIM_FLATNESS = 3.0
TRIM_CHUNK = 16


def _content_span(is_border: np.ndarray) -> tuple[int, int]:
    """First and end index of the content: runs of non-border lines, ignoring thin islands."""
    import numpy as np

    n = len(is_border)
    content = ~is_border
    edges = np.diff(np.concatenate(([0], content.astype(np.int8), [0])))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    if len(starts) == 0:
        return 0, n
    lengths = ends - starts
    keep = lengths >= max(TRIM_ISLAND * n, 1)
    if not keep.any():
        keep = lengths == lengths.max()
    return int(starts[keep][0]), int(ends[keep][-1])


def _border_lines(arr: np.ndarray) -> np.ndarray:
    """For each row of arr (h, w, 3): is it border, the colour of both the first and last row?

    Pads, letterboxes and screen frames surround the photo in one colour. A smooth sky or wall
    at one edge only is content: trimming it would make the hash depend on whether a re-post
    added a frame (the frame hides the sky's edge from trimming), so it is kept.
    """
    import numpy as np

    colours = [np.median(edge, axis=0).astype(np.int16) for edge in (arr[0], arr[-1])]
    if np.abs(colours[0] - colours[1]).max() > TRIM_TOLERANCE:
        return np.zeros(arr.shape[0], dtype=bool)
    weights = np.array([0.299, 0.587, 0.114], np.float32)  # luma
    diff = np.abs(arr - colours[0])
    # Channel max by hand: numpy's reduce over a length-3 last axis is ~10x slower. JPEG keeps
    # colour at half resolution and quantises it harder than brightness, so a saturated pad
    # (a blue frame) strays up to ~15 levels in one channel where content meets it: a
    # channel may stray twice the tolerance as long as the brightness stays within it.
    close = np.maximum(np.maximum(diff[..., 0], diff[..., 1]), diff[..., 2]) <= 2 * TRIM_TOLERANCE
    signed = (arr - colours[0]).astype(np.float32) @ weights  # brightness difference
    close &= np.abs(signed) <= TRIM_TOLERANCE
    result: np.ndarray = close.mean(axis=1) >= TRIM_LINE_FRACTION
    chunks = arr.shape[1] // TRIM_CHUNK
    if chunks:
        drift = np.abs(signed[:, : chunks * TRIM_CHUNK].reshape(arr.shape[0], chunks, TRIM_CHUNK)
                       .mean(axis=2))
        result &= drift.max(axis=1) <= TRIM_FLATNESS
    if not (result[0] and result[-1]):
        return np.zeros(arr.shape[0], dtype=bool)
    return result


def trim_box(img: Image.Image) -> tuple[int, int, int, int]:
    """The box (left, top, right, bottom) inside solid-colour pads, letterboxes, screen frames."""
    import numpy as np

    arr = np.asarray(img.convert("RGB"), dtype=np.int16)
    left, top, right, bottom = 0, 0, arr.shape[1], arr.shape[0]
    for _ in range(2):  # cutting bars off one axis can expose clean borders on the other
        sub = arr[top:bottom, left:right]
        t, b = _content_span(_border_lines(sub))
        sub = sub[t:b]
        lft, rgt = _content_span(_border_lines(sub.transpose(1, 0, 2)))
        top, bottom, left, right = top + t, top + b, left + lft, left + rgt
    w, h = img.size
    if (right - left) < 16 or (bottom - top) < 16 or (right - left) * (bottom - top) < 0.1 * w * h:
        return 0, 0, w, h  # (almost) all border: a flat image; hashing it whole is honest
    return left, top, right, bottom


def trim_borders(img: Image.Image) -> Image.Image:
    box = trim_box(img)
    return img if box == (0, 0, *img.size) else img.crop(box)


# --- hashes ------------------------------------------------------------------------------


def _dct8(pixels: np.ndarray) -> np.ndarray:
    """The 8x8 lowest frequencies of a 32x32 DCT-II, as scipy.fftpack.dct computes them
    (unnormalised, rows then columns). A matrix product: scipy costs 0.2 s to import, which
    `prov match` cannot spare."""
    import numpy as np

    n = np.arange(32)
    basis = 2.0 * np.cos(np.pi * np.arange(8)[:, None] * (2 * n[None, :] + 1) / 64.0)
    return basis @ pixels.astype(np.float64) @ basis.T


def _median(values: np.ndarray) -> float:
    """np.median of a DCT, by np.median's own arithmetic (the mean of the two middle values
    of an even count). np.median itself checks floats for NaN through numpy.ma, 15 ms to
    import on every `prov match`; a DCT of pixels holds no NaN."""
    import numpy as np

    flat = np.sort(values, axis=None)
    mid = len(flat) // 2
    if len(flat) % 2:
        return float(flat[mid])
    return float((flat[mid - 1] + flat[mid]) / 2)


def _phash(img: Image.Image) -> bytes:
    """imagehash.phash's 64 bits (same reduction, same DCT, same median rule)."""
    import numpy as np
    from PIL import Image

    pixels = np.asarray(img.convert("L").resize((32, 32), Image.Resampling.LANCZOS))
    dct = _dct8(pixels)
    return np.packbits((dct > _median(dct)).flatten()).tobytes()


def compute_hashes(img: Image.Image) -> list[PerceptualHash]:
    """Hashes of an already trimmed, reduced image: what an item stores."""
    import numpy as np
    import pdqhash

    img = _reduced(img, HASH_SIDE)
    bits, quality = pdqhash.compute(np.asarray(img.convert("RGB")))
    return [
        PerceptualHash("pdq", pack_bits(bits), int(quality), "full"),
        PerceptualHash("phash", _phash(img), None, "full"),
    ]


def query_variants(img: Image.Image) -> list[PerceptualHash]:
    """The eight dihedral PDQ hashes (rotations, mirrors) a query is searched with; [0] upright."""
    import numpy as np
    import pdqhash

    img = _reduced(img, HASH_SIDE)
    all_bits, quality = pdqhash.compute_dihedral(np.asarray(img.convert("RGB")))
    names = ("full", "rot90", "rot180", "rot270", "flipx", "flipy", "flipplus", "flipminus")
    return [PerceptualHash("pdq", pack_bits(b), int(quality), n)
            for b, n in zip(all_bits, names, strict=True)]


def _reduced(img: Image.Image, side: int) -> Image.Image:
    from PIL import Image

    if max(img.size) == side:
        return img
    # Small images are scaled up too: PDQ's filters then see every copy at one scale, which
    # keeps a thumbnail and its half-size re-post within 30 bits instead of 50.
    scale = side / max(img.size)
    size = (max(1, round(img.width * scale)), max(1, round(img.height * scale)))
    return img.resize(size, Image.Resampling.BOX if scale < 1 else Image.Resampling.BICUBIC)


# Sub-region windows hashed and stored beside the whole picture: (share of width and height,
# horizontal and vertical anchor). PDQ moves past any threshold once a few percent of the frame
# is cut away, so a crop is only found by hash when one of the original's windows covers about
# what the crop kept; corner-anchored and centred crops of 10 and 20% are the common ones (a
# watermark or caption cut off, a zoom). The windows are also ranked for the crop stage, so an
# off-grid crop still brings its original among the few candidates keypoints are checked on.
# Measured in bench/README-hashing.md: adding these ten costs ~7 ms per image.
REGIONS: dict[str, tuple[float, float, float]] = {
    f"{name}{round(share * 100)}": (share, ax, ay)
    for share in (0.9, 0.8)
    for name, ax, ay in (("c", 0.5, 0.5), ("tl", 0.0, 0.0), ("tr", 1.0, 0.0), ("bl", 0.0, 1.0),
                         ("br", 1.0, 1.0))
}


@dataclass(frozen=True)
class PictureHashes:
    """What one decoded picture stores and what it is searched with."""

    trimmed: tuple[int, int, int, int]  # box kept by trim_borders, in the given image's pixels
    stored: tuple[PerceptualHash, ...]  # whole-picture PDQ and pHash, then region PDQ hashes
    query: tuple[PerceptualHash, ...]  # rotated and mirrored PDQ and pHash: searched with only
    # The "photo" cut's rows (content_band at PHOTO_*) as shares (top, bottom) of the trimmed
    # picture's height, or None.
    band: tuple[float, float] | None = None


def hash_picture(img: Image.Image) -> PictureHashes:
    """Trim once, then every hash from one HASH_SIDE copy: whole, regions, dihedral variants.

    Every PDQ comes from one luma plane through pdqhash's own C++ (matching/pdq.py), value
    for value what `pdqhash.compute` gives (tests/test_pdqfast.py). Region windows are hashed
    at the window's own size, not scaled back up: PDQ's filters adapt to the size, and
    upscaling cost three times as much as hashing (measured).
    """
    import numpy as np


    small = _reduced(img, HASH_SIDE)
    box = trim_box(small)
    sx, sy = img.width / small.width, img.height / small.height
    full_box = (round(box[0] * sx), round(box[1] * sy), round(box[2] * sx), round(box[3] * sy))
    trimmed = small.crop(box) if box != (0, 0, *small.size) else small
    hashed = _reduced(trimmed, HASH_SIDE).convert("RGB")
    picture = Picture(np.asarray(hashed))
    values, quality = picture.dihedral()
    if min(full_box[2] - full_box[0], full_box[3] - full_box[1]) < PDQ_GRID:
        quality = max(quality, native_quality(img.crop(full_box)))
    pdq = [PerceptualHash("pdq", v, quality, n) for v, n in zip(values, DIHEDRAL, strict=True)]
    phash = phash_variants(hashed)
    regions = []
    for name, box_ in region_boxes(hashed.size).items():
        value, q = picture.window(box_)
        # A flat window (sky, wall) says nothing and would only crowd the candidates.
        if q >= PDQ_MIN_QUALITY:
            regions.append(PerceptualHash("pdq", value, q, name))
    band = content_band(picture.rgb)
    if band is not None:
        value, q = picture.window(band)
        if q >= PDQ_MIN_QUALITY:
            regions.append(PerceptualHash("pdq", value, q, "band"))
    photo = content_band(picture.rgb, PHOTO_LEVELS, PHOTO_FLAT)
    rows = None
    if photo is not None:
        # Its keypoints are kept even when its hash is too flat to store (matching.bandkeys):
        # a dim photo between an app's chrome still tells two screenshots apart.
        rows = (photo[1] / hashed.height, photo[3] / hashed.height)
        value, q = picture.window(photo)
        if q >= PDQ_MIN_QUALITY and (band is None or max(
                abs(a - b) for a, b in zip(photo, band, strict=True)) > 1):
            regions.append(PerceptualHash("pdq", value, q, "photo"))
    stored = [pdq[0], phash[0], *regions]
    return PictureHashes(full_box, tuple(stored), tuple(pdq[1:] + phash[1:]), rows)


# A screenshot shows a photo as a full-width band between an app's chrome (status bar,
# header, caption lines, controls); trimming keeps the chrome when its colours differ at the
# top and bottom. Rows are chrome when at least BAND_FLAT of their pixels lie within
# BAND_LEVELS grey levels of the row's median (a background with text on it); the longest run
# of other rows (gaps of BAND_GAP of the height closed) is the band, hashed and stored as
# region "band" when it spans BAND_SPAN of the height. Without it, a screenshot's hashes and
# keypoint votes were nearest the other screenshots of the same app, its photo never among
# the candidates verified: 0.063 (add) and 0.079 (match) of screenshots found their photo in
# bench/overlays.py.
BAND_FLAT = 0.7
BAND_LEVELS = 12
BAND_GAP = 0.01
BAND_SPAN = (0.2, 0.8)
# That cut also takes a photo's own smooth rows (sky, a dark background) for chrome, and cut
# a screenshot's photo short or found none: 18 of the 64 bases' social-app screenshots had
# no band, 46 a band that missed part of the photo (so it was 80-114 bits from the original).
# A second cut counts as chrome only rows that are flat as an app draws them: PHOTO_FLAT of
# their pixels within PHOTO_LEVELS grey levels of the row's median. It found the whole photo
# in 63 of the 64 (JPEG q92 and q50 alike); it is hashed as region "photo" where it differs
# from the band, and its keypoints are kept (matching.bandkeys). The band stays as it was:
# it is a window a corner badge on a photo's sky leaves untouched (a channel's badged
# copies met their originals through it: bench/overlays.py, logo set 0.444 -> 0.302 without).
PHOTO_FLAT = 0.9
PHOTO_LEVELS = 2


def content_band(rgb: np.ndarray, levels: float = BAND_LEVELS, flat_share: float = BAND_FLAT
                 ) -> tuple[int, int, int, int] | None:
    """The box (0, top, width, bottom) of a full-width band of picture between flat rows of
    chrome (at least `flat_share` of a row within `levels` of its median), or None."""
    import numpy as np

    luma = rgb.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    h, w = luma.shape
    if h < 32 or w < 32:
        return None
    median = np.sort(luma, axis=1)[:, w // 2]
    flat = (np.abs(luma - median[:, None]) <= levels).mean(axis=1) >= flat_share
    busy = ~flat
    gap = max(1, round(h * BAND_GAP))
    # Close short runs of flat rows inside the picture (a flat stripe of sky, a dark line).
    edges = np.diff(np.concatenate(([0], flat.astype(np.int8), [0])))
    for start, end in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1), strict=True):
        if end - start <= gap and start > 0 and end < h:
            busy[start:end] = True
    edges = np.diff(np.concatenate(([0], busy.astype(np.int8), [0])))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    if not len(starts):
        return None
    longest = int(np.argmax(ends - starts))
    top, bottom = int(starts[longest]), int(ends[longest])
    if not BAND_SPAN[0] * h <= bottom - top <= BAND_SPAN[1] * h:
        return None
    return 0, top, w, bottom


def native_quality(img: Image.Image) -> int:
    """PDQ's quality formula measured on the picture's own pixels, scaled to PDQ's grid.

    PDQ measures quality as the gradient summed over its 64x64 grid, each step's difference
    truncated to a whole percent. A picture under 64 px is blown up onto that grid, so each
    of its steps is split into several small ones that truncate to almost nothing: a 25-px
    copy of a quality-78 picture measured 36, although PDQ's 16x16 DCT frequencies are all
    below its own pixels' Nyquist limit and its hash stayed within 22 bits of the original's.
    Measured on its own pixels, a detailed thumbnail keeps its detail and a near-uniform one
    (noise of a few grey levels) still measures near 0.
    """
    import numpy as np

    luma = np.asarray(img.convert("L"), np.float32)
    h, w = luma.shape
    if h < 2 or w < 2:
        return 0
    steps = PDQ_GRID * (PDQ_GRID - 1)
    across = np.trunc(np.abs(np.diff(luma, axis=1)) * 100 / 255).sum() * steps / (h * (w - 1))
    down = np.trunc(np.abs(np.diff(luma, axis=0)) * 100 / 255).sum() * steps / ((h - 1) * w)
    return min(100, int((across + down) // 90))


def region_boxes(size: tuple[int, int]) -> dict[str, tuple[int, int, int, int]]:
    """The REGIONS windows of a picture of this size, as (left, top, right, bottom) boxes."""
    w, h = size
    out = {}
    for name, (share, ax, ay) in REGIONS.items():
        cw, ch = w * share, h * share
        x0, y0 = (w - cw) * ax, (h - ch) * ay
        out[name] = (round(x0), round(y0), round(x0 + cw), round(y0 + ch))
    return out


def phash_variants(img: Image.Image) -> list[PerceptualHash]:
    """pHash of the picture and of its 7 rotations and mirrors, from one 32x32 reduction.

    Equal to imagehash.phash for the upright one; the others transform the 32x32 pixels,
    which is what reducing the transformed picture gives, up to resampling.
    """
    import numpy as np
    from PIL import Image

    pixels = np.asarray(img.convert("L").resize((32, 32), Image.Resampling.LANCZOS))
    # Same order as pdqhash.compute_dihedral, so the region names agree.
    ops = (pixels, np.rot90(pixels, 1), np.rot90(pixels, 2), np.rot90(pixels, 3), pixels[::-1],
           pixels[:, ::-1], pixels.T, np.rot90(pixels, 2).T)
    out = []
    for name, p in zip(DIHEDRAL, ops, strict=True):
        dct = _dct8(p)
        bits = dct > _median(dct)
        out.append(PerceptualHash("phash", np.packbits(bits.flatten()).tobytes(), None, name))
    return out


def hash_image(img: Image.Image) -> ImageHashes:
    """Trim and hash a decoded image; `trimmed` is the kept box in img's pixels."""
    small = _reduced(img, HASH_SIDE)
    box = trim_box(small)
    sx, sy = img.width / small.width, img.height / small.height
    full_box = (round(box[0] * sx), round(box[1] * sy), round(box[2] * sx), round(box[3] * sy))
    trimmed = small.crop(box) if box != (0, 0, *small.size) else small
    return ImageHashes(img.width, img.height, full_box, tuple(compute_hashes(trimmed)))


def hash_source(source: bytes | Path, *, target: int = TARGET) -> ImageHashes:
    """Decode once at reduced scale, trim, hash: the per-file job ingest runs in worker processes.

    Raises BadInput for unreadable, truncated or oversized files.
    """
    return hash_image(load_image(source, target=target))


def verdict(pdq_distance: int | None, *, pdq_quality: int | None = None,
            phash_distance: int | None = None, local_inliers: int | None = None
            ) -> Verdict | None:
    """What a hash comparison means; "identical" (same SHA-256) is decided by the caller.

    pdq_quality is the lower of the two images' qualities. local_inliers comes from
    provenance.matching.localmatch.verify (geometrically consistent ORB matches), the crop stage.
    """
    from provenance.matching.localmatch import LOCAL_MATCH_INLIERS

    reliable = pdq_quality is None or pdq_quality >= PDQ_MIN_QUALITY
    if local_inliers is not None and local_inliers >= LOCAL_MATCH_INLIERS:
        return "re-upload" if reliable else "similar"
    if pdq_distance is not None and pdq_distance <= PDQ_MATCH:
        return "re-upload" if reliable else "similar"
    near_pdq = pdq_distance is not None and pdq_distance <= PDQ_SIMILAR
    if near_pdq and phash_distance is not None and phash_distance <= PHASH_MATCH and reliable:
        return "re-upload"
    if near_pdq or (phash_distance is not None and phash_distance <= PHASH_SIMILAR):
        return "similar"
    return None
