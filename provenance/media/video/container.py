"""Opening a video and reading its container: validity, metadata normalised like EXIF.

PyAV is imported inside the functions so that `prov --help` stays instant.
"""

from __future__ import annotations

import os
import re
import struct
from pathlib import Path
from typing import TYPE_CHECKING, Any

from provenance.errors import BadInput
from provenance.media.video.tags import parse_datetime, parse_iso6709

if TYPE_CHECKING:
    from av.container import InputContainer
    from av.video.stream import VideoStream


# Where cameras and phones put each fact, best source first. Apple's local time with offset
# beats creation_time, which is UTC and which many tools reset when they rewrite a file.
_CAPTURED_AT_KEYS = ("com.apple.quicktime.creationdate", "creation_time", "date")
_LOCATION_KEYS = (
    "com.apple.quicktime.location.ISO6709",
    "location",
    "location-eng",
    "©xyz",
    "com.android.location",
)
_MAKE_KEYS = ("com.apple.quicktime.make", "make", "com.android.manufacturer")
_MODEL_KEYS = ("com.apple.quicktime.model", "model", "com.android.model")
# "encoder" last: it names the program that wrote the file (e.g. Lavf = FFmpeg), which is
# provenance too when no camera software is recorded.
_SOFTWARE_KEYS = ("com.apple.quicktime.software", "software", "com.android.version", "encoder")


def video_metadata(path: str | Path) -> dict[str, Any]:
    """Facts about a video under the keys image EXIF uses, plus every tag in `raw`.

    `captured_at` is ISO 8601 (with offset when the file records one); `captured_at_source`
    names the tag it came from. GPS is decimal degrees. `width`/`height` are as stored;
    `rotation` is the clockwise turn (0, 90, 180, 270) a player applies to display it.
    Raises BadInput for anything that is not a complete, decodable video.
    """
    with open_video(path) as container:
        stream = video_stream(container, path)
        check_complete(container, path)
        tags = {k: v for k, v in container.metadata.items()}
        for s in container.streams:
            for k, v in s.metadata.items():
                tags.setdefault(k, v)  # container tags win; stream tags fill gaps

        captured_at, source = None, None
        for key in _CAPTURED_AT_KEYS:
            captured_at = parse_datetime(tags.get(key))
            if captured_at:
                source = key
                break
        offset_source = _offset_source(captured_at, source)
        position = next((p for k in _LOCATION_KEYS if (p := parse_iso6709(tags.get(k)))), None)
        audio = [s for s in container.streams.audio]
        return {
            "captured_at": captured_at,
            "captured_at_source": source,
            "captured_offset_source": offset_source,
            "gps_latitude": position[0] if position else None,
            "gps_longitude": position[1] if position else None,
            "gps_altitude": position[2] if position else None,
            "make": first_tag(tags, _MAKE_KEYS),
            "model": first_tag(tags, _MODEL_KEYS),
            "software": first_tag(tags, _SOFTWARE_KEYS),
            "duration_seconds": _duration(container, stream),
            "codec": stream.codec_context.name,
            "width": stream.codec_context.width,
            "height": stream.codec_context.height,
            "rotation": _rotation(container, stream, path),
            "frame_rate": frame_rate(stream),
            "has_audio": bool(audio),
            "audio_codec": audio[0].codec_context.name if audio else None,
            "container_format": container.format.name,
            "raw": raw_tags(container),
        }


# --- opening and validating -----------------------------------------------------------------


def open_video(path: str | Path) -> InputContainer:
    import av

    subject = str(path)
    if not os.path.isfile(path):
        raise BadInput(subject, "no such file")
    try:
        return av.open(subject, metadata_errors="replace")
    except av.error.FFmpegError as exc:
        raise BadInput(subject, _explain_unreadable(path, exc)) from None


def _explain_unreadable(path: str | Path, exc: Exception) -> str:
    """Why FFmpeg refused a file, in words: its own message is only 'Invalid data'."""
    boxes, overrun = _mp4_boxes(path)
    if boxes and boxes[0] == "ftyp":
        if "moov" not in boxes:
            where = f"; it ends inside its '{overrun}' box" if overrun else ""
            return (
                "truncated or corrupt container: MP4/MOV with no 'moov' index box"
                f"{where} (an interrupted download or copy?)"
            )
        return f"truncated or corrupt container: {getattr(exc, 'strerror', None) or exc}"
    return "not a video file FFmpeg can read (unknown or corrupt format)"


def _mp4_boxes(path: str | Path) -> tuple[list[str], str | None]:
    """Top-level ISO-BMFF box types, and the type of a box that runs past end of file."""
    types: list[str] = []
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        offset = 0
        while offset + 8 <= size and len(types) < 1000:
            f.seek(offset)
            length, kind = struct.unpack(">I4s", f.read(8))
            if length == 1:
                length = struct.unpack(">Q", f.read(8))[0]
            elif length == 0:
                length = size - offset
            name = kind.decode("latin-1")
            if not name.isprintable() or length < 8:
                break
            types.append(name)
            if offset + length > size:
                return types, name
            offset += length
    return types, None


def video_stream(container: InputContainer, path: str | Path) -> VideoStream:
    import av

    # FFmpeg opens PNG, JPEG, WebP... as one-frame "videos"; they belong to the image path.
    if container.format.name == "image2" or container.format.name.endswith("_pipe"):
        kind = container.format.name.removesuffix("_pipe")
        raise BadInput(str(path), f"a still image ({kind}), not a video: register it as an image")
    for stream in container.streams.video:
        # Cover art in an audio file shows up as a one-frame "video" stream.
        if not stream.disposition & av.stream.Disposition.attached_pic:
            return stream
    audio = [s.codec_context.name for s in container.streams.audio]
    if audio:
        raise BadInput(str(path), f"no video stream (audio only: {', '.join(audio)});"
                                  " pass --kind audio to register its sound")
    kinds = [s.type for s in container.streams]
    found = f"streams: {', '.join(kinds)}" if kinds else "no streams at all"
    raise BadInput(str(path), f"no video stream ({found})")


def check_complete(container: InputContainer, path: str | Path) -> None:
    """Refuse a file whose own index points past its end: the tail of the media is missing."""
    size = os.path.getsize(path)
    for stream in container.streams:
        entries = stream.index_entries
        if len(entries) == 0:
            continue
        last = entries[len(entries) - 1]
        if last.size > 0 and last.pos + last.size > size:
            held = last.pos + last.size
            raise BadInput(
                str(path),
                f"truncated or corrupt container: its index needs {held:,} bytes but the file "
                f"has {size:,} (an interrupted download or copy?)",
            )


# --- metadata helpers -----------------------------------------------------------------------


def first_tag(tags: dict[str, str], keys: tuple[str, ...]) -> str | None:
    """The first of `keys` with a non-blank value in `tags`, stripped."""
    return next((tags[k].strip() for k in keys if tags.get(k, "").strip()), None)


def _duration(container: InputContainer, stream: VideoStream) -> float | None:
    if stream.duration and stream.time_base:
        return round(float(stream.duration * stream.time_base), 3)
    if container.duration:
        return round(container.duration / 1_000_000, 3)
    return None


def frame_rate(stream: VideoStream) -> float | None:
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    return round(float(rate), 3) if rate else None


def _rotation(container: InputContainer, stream: VideoStream, path: str | Path) -> int:
    """Clockwise display rotation, read from the first decoded frame's display matrix.

    Decoding one frame also proves the file is playable; PyAV exposes the stream's display
    matrix only on frames. Old muxers wrote a `rotate` tag instead, already clockwise.
    """
    import av

    tag = stream.metadata.get("rotate")
    try:
        frame = next(iter(container.decode(stream)), None)
    except av.error.FFmpegError as exc:
        raise BadInput(str(path), f"corrupt video data: {exc.strerror or exc}") from None
    if frame is None:
        raise BadInput(str(path), "truncated or corrupt: no frame of video could be decoded")
    if frame.rotation:
        return int(round(-frame.rotation)) % 360
    return int(tag) % 360 if tag and tag.lstrip("-").isdigit() else 0


def raw_tags(container: InputContainer) -> dict[str, Any]:
    """Every container and stream tag as FFmpeg read it (audio and video alike)."""
    return {
        "format": container.format.name,
        "tags": dict(container.metadata),
        "streams": [
            {
                "index": s.index,
                "type": s.type,
                "codec": s.codec_context.name if s.codec_context else None,
                "tags": dict(s.metadata),
            }
            for s in container.streams
        ],
    }


def _offset_source(captured_at: str | None, source: str | None) -> str | None:
    """Where the capture time's UTC offset comes from, or None when it has none (local
    time, zone unknown: never converted)."""
    if not captured_at or not re.search(r"[+-]\d{2}:\d{2}$", captured_at):
        return None
    if source == "creation_time":
        # The MP4/QuickTime creation time is UTC by definition (some cameras write local
        # time there regardless: the source says which tag to doubt).
        return "container creation_time (UTC by the MP4/QuickTime definition)"
    return f"container tag {source}"
