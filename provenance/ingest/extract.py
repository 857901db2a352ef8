"""One entry point per file: metadata, perceptual hashes and keypoints for whatever kind it is.

Heavy libraries (PyAV, PyMuPDF, OpenCV) load with this module; only `prov add` and
`prov match` reach it, never `prov --help`.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

from provenance.errors import BadInput
from provenance.ingest import reading
from provenance.matching import hashing, keyframes
from provenance.matching.bandkeys import with_band
from provenance.matching.localmatch import local_features
from provenance.media import c2pa, document, exif
from provenance.media.video import container
from provenance.media.video.sampling import read_ahead, sample_frames


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
    kind: str | None = None  # set when the container shows another kind than sniffing did
    # Text read off the pages: event payloads ({"type", "data"}) recorded with the item.
    readings: list[dict[str, Any]] = field(default_factory=list)
    ocr_missing: bool = False  # OCR was due, but Tesseract (or all its languages) is missing


def extract(path: str, kind: str, mime: str, data: bytes | None = None,
            plan: reading.Plan | None = None, *, credentials: bool = True) -> Extracted:
    """Metadata, hashes, keypoints and text of one file; with `credentials`, its content
    credential (C2PA) too, which only registration records (`prov match` leaves it)."""
    max_pixels = plan.decode_pixels if plan is not None else hashing.MAX_PIXELS
    out = _extract_kind(path, kind, mime, data, max_pixels)
    if (plan is not None or kind in ("document", "scan")) and NOT_DECODED not in out.metadata:
        _read_text(out, path, kind, mime, data, plan)
    if credentials and c2pa.applies_to(out.mime or mime):
        # The file's content credential, read and judged once, as part of registration.
        reading = c2pa.read(path, out.mime or mime, data)
        out.metadata["c2pa"] = reading.summary
        if reading.failures:
            out.raw_metadata["c2pa"] = {"validation_status": reading.failures}
    return out


def _read_text(out: Extracted, path: str, kind: str, mime: str, data: bytes | None,
               plan: reading.Plan | None) -> None:
    """Add the text read off the item's pages (see ingest/reading.py) to what was extracted."""
    if (out.mime or mime) == "application/pdf" or kind == "document":
        if out.metadata.get("needs_password"):
            return  # the warning already says the pages cannot be read
        found = reading.read_document(path, out.kind or kind, out.metadata.get("page_count"),
                                      plan)
    elif (out.kind or kind) in ("image", "scan"):
        if data is None:
            with open(path, "rb") as fh:
                data = fh.read()
        found = reading.read_image(data, out.kind or kind, plan, path)
    else:
        return
    out.readings.extend(found.events)
    out.warnings.extend(found.warnings)
    out.ocr_missing = found.engine_missing


def _extract_kind(path: str, kind: str, mime: str, data: bytes | None = None,
                  max_pixels: int = hashing.MAX_PIXELS) -> Extracted:
    if kind in ("image", "scan") and mime != "application/pdf":
        return extract_image(path, data, max_pixels)
    if kind == "video":
        return with_sound(extract_video(path), path)
    if kind == "audio":
        return extract_audio(path, mime)
    if kind in ("document", "scan"):
        return extract_document(path)
    return Extracted()


# The kinds whose perceptual analysis (frames, sound, pages decoded) a capture leaves for
# later (`prov analyse`, item.analysed): it takes seconds a minute of footage, and securing
# the bytes comes first. Pictures are analysed at once: one decode, and the keypoint index
# of pictures (matching/kpcache.py) is built in registration order.
DEFERRED_KINDS = ("video", "audio", "document")


def facts(path: str, kind: str, mime: str) -> Extracted:
    """What a capture registers of a DEFERRED_KINDS file: its container's facts, nothing
    decoded. Raises BadInput for a file that is not a complete one of its kind."""
    if kind == "video":
        return video_facts(path)
    if kind == "audio":
        return audio_facts(path, mime)
    if kind == "document":
        return document_facts(path)
    raise ValueError(f"no deferred analysis for kind {kind!r}")


# Metadata key of an image registered without its pixels decoded: what was skipped, and why.
NOT_DECODED = "not_decoded"


def extract_image(path: str, data: bytes | None = None,
                  max_pixels: int = hashing.MAX_PIXELS) -> Extracted:
    """EXIF, pixel size, perceptual hashes, query variants and keypoints: one decode.

    An image of more than max_pixels pixels is evidence all the same: registered with its
    header's pixel size and its EXIF, not decoded (no hashes, keypoints or text), saying so
    in a warning and in its metadata (NOT_DECODED), which `prov show` prints.
    """
    import io

    from PIL import Image

    if data is None:
        with open(path, "rb") as fh:
            data = fh.read()
    out = Extracted()
    size = hashing.pixel_size(data)
    if size is not None and size[0] * size[1] > max_pixels:
        return _not_decoded(data, size, max_pixels)
    img = hashing.load_image(data, name=path, max_pixels=max_pixels)
    try:
        # Header only, so Pillow's own bomb guard stays off: max_pixels has decided.
        with hashing.pixel_guard(None), Image.open(io.BytesIO(data)) as probe:
            out.metadata["width"], out.metadata["height"] = probe.size
            out.mime = Image.MIME.get(probe.format or "")
    except (OSError, ValueError):  # load_image already decoded it; the header read cannot fail
        pass
    meta, raw, warnings = exif.read_exif(data)
    out.metadata.update(meta)
    out.raw_metadata = {"exif": raw}
    out.warnings.extend(warnings)
    hashes, query, features = hash_pixels(img)
    out.hashes, out.query_hashes, out.features = hashes, query, features
    return out


def _not_decoded(data: bytes, size: tuple[int, int], max_pixels: int) -> Extracted:
    import io

    from PIL import Image

    out = Extracted()
    with hashing.pixel_guard(None), Image.open(io.BytesIO(data)) as probe:
        out.mime = Image.MIME.get(probe.format or "")
    out.metadata["width"], out.metadata["height"] = size
    why = (f"{size[0]} x {size[1]} pixels, over the {max_pixels:,}-pixel decoding limit"
           " (--max-pixels)")
    out.metadata[NOT_DECODED] = f"{why}: no perceptual hashes, keypoints or text"
    meta, raw, warnings = exif.read_exif(data)
    out.metadata.update(meta)
    out.raw_metadata = {"exif": raw}
    out.warnings.append(f"{why}: registered with its SHA-256, MD5, stored copy and metadata;"
                        " its pixels were not decoded, so it has no perceptual hashes, keypoints"
                        " or text, and `prov match` cannot find re-uploads of it")
    out.warnings.extend(warnings)
    return out


def hash_pixels(
    img: Any, *, frame_seconds: float | None = None, page: int | None = None, features: bool = True
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[str, Any] | None]:
    """(stored hash rows, query-only hashes, keypoints) of one decoded picture.

    Stored: whole-picture PDQ and pHash, and PDQ of sub-region windows (region "c80", "tl90",
    ...; see hashing.REGIONS) so a crop of this picture is found later. Query-only: the
    rotated and mirrored PDQ and pHash.
    """
    hashed = hashing.hash_picture(img)
    box = hashed.trimmed
    rows = [h.to_row(frame_seconds, page) for h in hashed.stored]
    query = [h.to_row(frame_seconds, page) for h in hashed.query]
    keypoints = None
    if features:
        trimmed = img if box == (0, 0, img.width, img.height) else img.crop(box)
        keypoints = with_band(local_features(trimmed, mirrored=True), trimmed,
                              hashed.band).pack()
    return rows, query, keypoints




# Keypoints (ORB) for the crop stage are found on at most this many sampled frames, spread
# evenly: a 20 s clip gets every sampled frame, 10 minutes one frame in ten. About 9 ms and
# 15 KB each, so a long video costs well under a second here and ~1 MB in the feature cache.
KEYFRAMES = 60


# Metadata that is not a column: kept in the item's metadata JSON beside the columns.
_EXTRA_KEYS = ("captured_at_source", "rotation", "has_audio", "audio_codec", "container_format")


def extract_video(path: str) -> Extracted:
    """Metadata, one perceptual hash row set per sampled frame, and keyframe keypoints.

    Stored rows carry `frame_seconds`. Query-only rows are each frame's mirror image (PDQ
    "flipy"): a mirrored re-post is matched frame by frame; other dihedral turns are not
    searched for video (a player applies the rotation tag; rotated pixels are rare).
    Raises BadInput for anything that is not a complete, decodable video.
    """
    out = video_facts(path)
    meta = out.metadata

    # Sampling is about one frame a second: the duration says how sparse keyframes must be.
    step = max(1, math.ceil((meta.get("duration_seconds") or 0) / KEYFRAMES))
    chosen: list[tuple[float, Any]] = []
    count = 0
    for seconds, image in read_ahead(sample_frames(path)):
        at = round(seconds, 3)
        rows, query, _ = hash_pixels(image, frame_seconds=at, features=False)
        out.hashes.extend(rows)
        out.query_hashes.extend(q for q in query if q["region"] == "flipy")
        if count % step == 0 and len(chosen) < KEYFRAMES:
            chosen.append((at, local_features(image)))
        count += 1
    out.metadata["frames_hashed"] = count
    out.features = keyframes.pack(chosen, "seconds")
    return out


def video_facts(path: str) -> Extracted:
    """A video's metadata from its container alone (no frame decoded): what `extract_video`
    starts from, and all a capture registers before its deferred analysis (`metadata_only`).
    Raises BadInput for anything that is not a complete, decodable video."""
    meta = container.video_metadata(path)
    out = Extracted(mime=_mime(meta["container_format"]))
    out.raw_metadata = {"container": meta.pop("raw")}
    captured, source = meta.get("captured_at"), meta.get("captured_at_source")
    if captured and source == "com.apple.quicktime.creationdate":
        # Apple's tag is local time with its offset; creation_time is UTC, not a local zone.
        offset = re.search(r"[+-]\d{2}:\d{2}$", captured)
        meta["captured_offset"] = offset.group(0) if offset else None
    out.metadata = {k: v for k, v in meta.items() if v is not None or k in _EXTRA_KEYS}
    return out


def _mime(container_format: str | None) -> str | None:
    names = (container_format or "").split(",")
    if "mp4" in names or "mov" in names:
        return None  # sniffing already told MP4 from QuickTime; the demuxer cannot
    for name, mime in (("matroska", "video/x-matroska"), ("webm", "video/webm"),
                       ("avi", "video/x-msvideo"), ("mpegts", "video/mp2t")):
        if name in names:
            return mime
    return None


# Pages hashed and given keypoints: beyond this a document is a book, not a form, and the
# rest of its pages are registered (the bytes are held) without page hashes, with a warning.
MAX_PAGES = 200


def extract_document(path: str) -> Extracted:
    """Metadata, page count, one hash row set and keypoints per rendered page.

    A password-protected PDF is registered with its metadata and a warning but no page
    hashes (see the module docstring); a PDF MuPDF had to repair gets a warning too.
    """
    out = document_facts(path)
    meta = out.metadata
    if meta.get("needs_password"):
        return out
    pages = []
    try:
        for number, image in document.render_pages(path):
            if number > MAX_PAGES:
                out.warnings.append(f"only the first {MAX_PAGES} of {meta['page_count']}"
                                    " pages were hashed")
                break
            rows, query, _ = hash_pixels(image, page=number, features=False)
            out.hashes.extend(rows)
            out.query_hashes.extend(query)
            pages.append((float(number), local_features(image)))
    except document.RenderBudget as exc:
        # The bytes are evidence whatever their drawing costs: registered, with fewer hashes.
        out.warnings.append(f"{exc.reason} of {meta['page_count']}")
    except BadInput as exc:
        # A damaged page: the pages before it are hashed, the file is registered.
        out.warnings.append(f"{exc.reason}; {len(pages)} page(s) hashed")
    out.features = keyframes.pack(pages, "page")
    return out


def document_facts(path: str) -> Extracted:
    """A document's metadata and page count, no page drawn (see `video_facts`)."""
    meta = document.document_metadata(path)
    out = Extracted(mime="application/pdf" if meta.get("format", "") and
                    str(meta["format"]).startswith("PDF") else None)
    out.raw_metadata = {"document": meta.pop("raw")}
    out.metadata = {k: v for k, v in meta.items() if v is not None}
    if meta["needs_password"]:
        out.warnings.append(f"{document.ENCRYPTED}: registered with its metadata,"
                            " without page hashes")
    elif meta["repaired"]:
        out.warnings.append("damaged PDF structure, repaired on reading: pages may be missing")
    return out


# --- sound: audio files, and every video's sound track ------------------------------------


def extract_audio(path: str, mime: str) -> Extracted:
    """Container metadata and the sound's landmark fingerprints (see `with_sound`).

    A file whose bytes sniffed as audio (Ogg, an MP4 with an audio brand) but whose
    container holds a picture stream is extracted as the video it is; one sniffed as video
    (or named as video) is refused, with the fix.
    """
    out = audio_facts(path, mime)
    if out.kind == "video":
        out = extract(path, "video", mime)
        out.kind = "video"
        return out
    with_sound(out, path)
    if "sound_seconds" in out.metadata:
        # Raw AAC and MP3 without an index only have a duration FFmpeg estimated from the
        # bit rate (7 s for a 6 s file); the decoded sound has the real one.
        out.metadata["duration_seconds"] = out.metadata["sound_seconds"]
    return out


def audio_facts(path: str, mime: str) -> Extracted:
    """An audio file's metadata from its container, no sound decoded (see `video_facts`);
    a file sniffed as audio whose container holds a picture stream is a video (kind set)."""
    from provenance.media import audio

    try:
        meta = audio.audio_metadata(path)
    except BadInput as exc:
        if not exc.reason.startswith("has a video stream") or not mime.startswith("audio/"):
            raise
        out = video_facts(path)
        out.kind = "video"
        return out
    out = Extracted(mime=_AUDIO_MIMES.get(str(meta["container_format"])))
    out.raw_metadata = {"container": meta.pop("raw")}
    out.metadata = {k: v for k, v in meta.items() if v is not None}
    return out


_AUDIO_MIMES = {"wav": "audio/wav", "mp3": "audio/mpeg", "flac": "audio/flac",
                "ogg": "audio/ogg", "amr": "audio/amr", "aac": "audio/aac"}


def with_sound(out: Extracted, path: str) -> Extracted:
    """Add the landmark fingerprints of a file's first sound track, if it has one.

    Stored rows are the sound as it is; query-only rows are its shifted and speed-changed
    variants (audiofp.variants). A sound that is silent throughout has no landmarks and says
    so in `sound_landmarks`.
    """
    from provenance.matching import audiofp
    from provenance.media import audio

    samples = audio.decode_mono(path, audiofp.RATE)
    if samples is None:
        return out
    stored = audiofp.rows(samples)
    out.hashes.extend(stored)
    if stored:  # a silent track has nothing to find, at any speed
        out.query_hashes.extend(audiofp.rows(samples, query=True))
    out.metadata["sound_landmarks"] = len(stored)
    out.metadata["sound_seconds"] = round(len(samples) / audiofp.RATE, 3)
    return out
