"""Video extraction: container metadata normalised like EXIF, and sampled frames for hashing.

PyAV, numpy and Pillow are imported inside the functions so that `prov --help` stays instant.
"""

from __future__ import annotations

import math
import os
import re
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from provenance.errors import BadInput

if TYPE_CHECKING:
    from av.container import InputContainer
    from av.video.frame import VideoFrame
    from av.video.stream import VideoStream
    from PIL.Image import Image

    from .extract import Extracted

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

# Below this mean grey-level difference (0-255) between 16x16 thumbnails, a sampled frame
# adds nothing a matcher could use: a tripod shot, a slide, a paused screen recording.
PRUNE_BELOW = 2.0


def video_metadata(path: str | Path) -> dict[str, Any]:
    """Facts about a video under the keys image EXIF uses, plus every tag in `raw`.

    `captured_at` is ISO 8601 (with offset when the file records one); `captured_at_source`
    names the tag it came from. GPS is decimal degrees. `width`/`height` are as stored;
    `rotation` is the clockwise turn (0, 90, 180, 270) a player applies to display it.
    Raises BadInput for anything that is not a complete, decodable video.
    """
    with _open(path) as container:
        stream = _video_stream(container, path)
        _check_complete(container, path)
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
        position = next((p for k in _LOCATION_KEYS if (p := parse_iso6709(tags.get(k)))), None)
        audio = [s for s in container.streams.audio]
        return {
            "captured_at": captured_at,
            "captured_at_source": source,
            "gps_latitude": position[0] if position else None,
            "gps_longitude": position[1] if position else None,
            "gps_altitude": position[2] if position else None,
            "make": _first(tags, _MAKE_KEYS),
            "model": _first(tags, _MODEL_KEYS),
            "software": _first(tags, _SOFTWARE_KEYS),
            "duration_seconds": _duration(container, stream),
            "codec": stream.codec_context.name,
            "width": stream.codec_context.width,
            "height": stream.codec_context.height,
            "rotation": _rotation(container, stream, path),
            "frame_rate": _frame_rate(stream),
            "has_audio": bool(audio),
            "audio_codec": audio[0].codec_context.name if audio else None,
            "container_format": container.format.name,
            "raw": _raw_tags(container),
        }


def sample_frames(
    path: str | Path,
    *,
    every_seconds: float = 1.0,
    max_side: int = 384,
    prune_below: float = PRUNE_BELOW,
) -> Iterator[tuple[float, Image]]:
    """Yield (seconds from the start, upright RGB image) about once every `every_seconds`.

    Images are at most `max_side` px on their longer side. A frame nearly identical to the
    last one yielded is skipped, but the first and last sampled frames are always yielded.
    Raises BadInput before the first frame for a broken file, or mid-way if the media data
    turns out to be corrupt.
    """
    if every_seconds <= 0:
        raise ValueError("every_seconds must be positive")
    import av

    from . import stretches

    with _open(path) as container:
        stream = _video_stream(container, path)
        _check_complete(container, path)
        skip = _skip_plan(stream, every_seconds)
        size = _target_size(stream, max_side)
        start = _start_seconds(stream)
        step = 1.0 / (_frame_rate(stream) or 25.0)

        def sample(frames: Iterator[VideoFrame]) -> _Stretch:
            return _Stretch(frames, start=start, step=step, every_seconds=every_seconds, size=size)

        def one_thread_each(s: VideoStream) -> None:
            s.codec_context.thread_count = 1  # one stretch per core instead
            s.codec_context.skip_frame = skip

        cuts = stretches.plan(path, container, stream)
        parts: Iterator[_Stretch]
        if cuts:
            parts = stretches.decode(path, container, stream, cuts, one_thread_each,
                                     lambda frames: sample(frames).collect())
        else:
            # One decoder: frames cut into slices decode fastest slice-parallel (18% faster on
            # the 720p bench); whole frames need frame threads. FFmpeg's automatic count is
            # cores + 1 threads; one per core was 10-25% faster here, with hashing alongside.
            stream.thread_type = "SLICE" if _slices_per_frame(path) > 1 else "AUTO"
            stream.codec_context.thread_count = os.cpu_count() or 1
            stream.codec_context.skip_frame = skip
            parts = iter([sample(container.decode(stream))])
        try:
            yield from _select(parts, every_seconds, prune_below, path)
        except av.error.FFmpegError as exc:
            raise BadInput(str(path), f"corrupt video data: {exc.strerror or exc}") from None


class _Stretch:
    """The frames of one run of a decoder that sampling may keep: the first at or after each
    whole `every_seconds`, and the last one decoded, in case the video ends between samples.

    Frames are candidates only: `_select` drops a stretch's first frame when the stretch
    before it already sampled that second, and prunes near-identical frames.
    """

    def __init__(self, frames: Iterator[VideoFrame], *, start: float, step: float,
                 every_seconds: float, size: tuple[int, int]) -> None:
        self.frames, self.start, self.step = frames, start, step
        self.every, self.size = every_seconds, size
        self.decoded = 0
        self.last: tuple[float, VideoFrame] | None = None
        self.last_image: Image | None = None
        self.kept: list[tuple[int, float, Image, Any]] | None = None
        self.error: Exception | None = None

    def candidates(self) -> Iterator[tuple[int, float, Image, Any]]:
        """(index among decoded frames, seconds, image, thumbnail), decoding as it goes."""
        if self.kept is not None:
            yield from self.kept
            if self.error is not None:
                raise self.error
            return
        due, seconds = 0.0, -self.step
        for frame in self.frames:
            self.decoded += 1
            # Raw elementary streams carry no timestamps: count frames instead.
            timed = frame.time is not None
            seconds = max(0.0, float(frame.time) - self.start) if timed else seconds + self.step
            self.last = (seconds, frame)
            if seconds + 1e-6 < due:
                continue
            due = (math.floor(seconds / self.every + 1e-6) + 1) * self.every
            image = _to_image(frame, self.size)
            yield self.decoded - 1, seconds, image, _thumb(image)

    def collect(self) -> _Stretch:
        """Decode the whole stretch now (in a worker thread), keeping its candidates and the
        error that stopped it, if any, for `candidates` to replay in order."""
        import av

        kept: list[tuple[int, float, Image, Any]] = []
        try:
            kept.extend(self.candidates())
        except av.error.FFmpegError as exc:
            self.error = exc
        self.kept = kept
        self.final_image()  # converted here, in the worker, while its decoder is open
        return self

    def final_image(self) -> Image | None:
        if self.last_image is None and self.last is not None:
            self.last_image = _to_image(self.last[1], self.size)
        return self.last_image


def _select(parts: Iterator[_Stretch], every_seconds: float, prune_below: float,
            path: str | Path) -> Iterator[tuple[float, Image]]:
    """The samples of consecutive stretches, as one decoder running through them all keeps."""
    due = 0.0
    last_thumb = None
    decoded = 0
    final: _Stretch | None = None
    yielded: tuple[_Stretch, int] | None = None
    for stretch in parts:
        for index, seconds, image, thumb in stretch.candidates():
            if seconds + 1e-6 < due:
                continue  # the previous stretch already sampled this second
            due = (math.floor(seconds / every_seconds + 1e-6) + 1) * every_seconds
            if last_thumb is not None and _difference(thumb, last_thumb) < prune_below:
                continue
            last_thumb = thumb
            yielded = (stretch, index)
            yield seconds, image
        decoded += stretch.decoded
        if stretch.last is not None:
            final = stretch
    if not decoded:
        raise BadInput(str(path), "truncated or corrupt: no frame of video could be decoded")
    if final is not None and final.last is not None and yielded != (final, final.decoded - 1):
        still = final.final_image()
        if still is not None:
            yield final.last[0], still


# --- opening and validating -----------------------------------------------------------------


def _open(path: str | Path) -> InputContainer:
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


def _video_stream(container: InputContainer, path: str | Path) -> VideoStream:
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
        raise BadInput(str(path), f"no video stream (audio only: {', '.join(audio)})")
    kinds = [s.type for s in container.streams]
    found = f"streams: {', '.join(kinds)}" if kinds else "no streams at all"
    raise BadInput(str(path), f"no video stream ({found})")


def _check_complete(container: InputContainer, path: str | Path) -> None:
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


def _first(tags: dict[str, str], keys: tuple[str, ...]) -> str | None:
    return next((tags[k].strip() for k in keys if tags.get(k, "").strip()), None)


def _duration(container: InputContainer, stream: VideoStream) -> float | None:
    if stream.duration and stream.time_base:
        return round(float(stream.duration * stream.time_base), 3)
    if container.duration:
        return round(container.duration / 1_000_000, 3)
    return None


def _frame_rate(stream: VideoStream) -> float | None:
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


def _raw_tags(container: InputContainer) -> dict[str, Any]:
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


# --- sampling helpers -----------------------------------------------------------------------


def _slices_per_frame(path: str | Path) -> int:
    """How many H.264 slices the first keyframe is cut into (1 when it cannot tell).

    Threading never changes the decoded pixels, only the speed, so a wrong guess costs time,
    not correctness.
    """
    import av

    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            extradata = bytes(stream.codec_context.extradata or b"")
            if stream.codec_context.name != "h264" or len(extradata) < 5 or extradata[0] != 1:
                return 1
            size = (extradata[4] & 3) + 1  # AVCC: NAL units prefixed by their length
            for packet in container.demux(stream):
                if not packet.is_keyframe:
                    continue
                data, i, slices = bytes(packet), 0, 0
                while i + size < len(data):
                    length = int.from_bytes(data[i:i + size], "big")
                    i += size
                    if data[i] & 0x1F in (1, 5):  # coded slice of a (non-)IDR picture
                        slices += 1
                    i += length
                return max(1, slices)
    except (av.error.FFmpegError, IndexError, ValueError):
        return 1
    return 1


def _skip_plan(stream: VideoStream, every_seconds: float) -> Literal["NONKEY", "NONREF", "DEFAULT"]:
    """Which frames the decoder may skip without changing the frames we keep.

    Decoding, not conversion, is the cost. With keyframes at least every `every_seconds`
    only keyframes are decoded. Otherwise every frame some later frame is predicted from
    must be decoded, but frames nothing refers to (most B-frames) need not be, which halves
    the work for typical x264 output; sampling only needs one frame near each second.
    """
    interval = _keyframe_interval(stream)
    if interval is not None and interval <= every_seconds * 1.01:
        return "NONKEY"
    rate = _frame_rate(stream)
    if rate and every_seconds * rate >= 4:
        return "NONREF"
    return "DEFAULT"


def _keyframe_interval(stream: VideoStream) -> float | None:
    """Median seconds between keyframes, from the container index (None if it has none)."""
    if not stream.time_base:
        return None
    stamps = [e.timestamp for e in stream.index_entries if e.is_keyframe]
    if len(stamps) < 2:
        return None
    gaps = sorted(b - a for a, b in zip(stamps, stamps[1:], strict=False))
    return float(gaps[len(gaps) // 2] * stream.time_base)


def _start_seconds(stream: VideoStream) -> float:
    """Where the stream's clock starts: frame times are reported relative to it."""
    if stream.start_time is None or stream.time_base is None:
        return 0.0
    return float(stream.start_time * stream.time_base)


def _target_size(stream: VideoStream, max_side: int) -> tuple[int, int]:
    """Display size (square pixels) scaled down so the longer side is at most max_side."""
    width, height = stream.codec_context.width, stream.codec_context.height
    sar = stream.sample_aspect_ratio
    if sar and sar > 0:
        width = int(round(width * sar))  # anamorphic storage: widen to what a viewer sees
    scale = min(1.0, max_side / max(width, height, 1))
    return max(1, round(width * scale)), max(1, round(height * scale))


def _to_image(frame: VideoFrame, size: tuple[int, int]) -> Image:
    from PIL import Image as PILImage

    image = frame.to_image(width=size[0], height=size[1], interpolation="AREA")
    turn = round(frame.rotation) % 360  # counter-clockwise, as PIL's ROTATE_* constants
    if turn == 90:
        image = image.transpose(PILImage.Transpose.ROTATE_90)
    elif turn == 180:
        image = image.transpose(PILImage.Transpose.ROTATE_180)
    elif turn == 270:
        image = image.transpose(PILImage.Transpose.ROTATE_270)
    return image


def _thumb(image: Image) -> Any:
    import numpy as np
    from PIL import Image as PILImage

    small = image.convert("L").resize((16, 16), PILImage.Resampling.BOX)
    return np.asarray(small, dtype=np.int16)


def _difference(a: Any, b: Any) -> float:
    return float(abs(a - b).mean())


# --- tag parsing (pure; usable by other modules) ----------------------------------------------

# ISO 6709 as phones write it: "+43.3491+133.3597/", "+43.3491+133.3597+012.000/", and the
# degree-minute(-second) forms "+4320.946+13321.582/" and "+432056.5+1332135.1/".
_ISO6709 = re.compile(
    r"^\s*(?P<lat>[+-]\d{2}(?:\d{2}){0,2}(?:\.\d+)?)"
    r"(?P<lon>[+-]\d{3}(?:\d{2}){0,2}(?:\.\d+)?)"
    r"(?P<alt>[+-]\d+(?:\.\d+)?)?(?:CRS[^/]*)?/?\s*$"
)


def parse_iso6709(text: str | None) -> tuple[float, float, float | None] | None:
    """(latitude, longitude, altitude in metres or None) in decimal degrees, else None."""
    if not text:
        return None
    m = _ISO6709.match(text)
    if not m:
        return None
    lat, lon = _degrees(m["lat"], 2), _degrees(m["lon"], 3)
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        return None
    return lat, lon, float(m["alt"]) if m["alt"] else None


def _degrees(field: str, degree_digits: int) -> float:
    sign = -1.0 if field[0] == "-" else 1.0
    whole, _, fraction = field[1:].partition(".")
    parts = [whole[:degree_digits]] + [
        whole[i : i + 2] for i in range(degree_digits, len(whole), 2)
    ]
    # The decimal fraction belongs to the last component present (degrees, minutes or seconds).
    parts[-1] = f"{parts[-1]}.{fraction}" if fraction else parts[-1]
    value = sum(float(p) / 60**i for i, p in enumerate(parts))
    return round(sign * value, 7)


def parse_datetime(text: str | None) -> str | None:
    """An ISO 8601 timestamp normalised (offset kept, "Z" as +00:00), or None.

    Zero dates (1904/1970 epochs that muxers write when nothing was recorded) count as none.
    """
    from datetime import datetime

    if not text:
        return None
    cleaned = text.strip().replace(" ", "T", 1)
    cleaned = re.sub(r"([+-]\d{2})(\d{2})$", r"\1:\2", cleaned)  # +0900 -> +09:00
    try:
        moment = datetime.fromisoformat(cleaned.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.year <= 1970:
        return None
    timespec = "microseconds" if moment.microsecond else "seconds"
    return moment.isoformat(timespec=timespec)


# --- extraction for ingest --------------------------------------------------------------------

# Keypoints (ORB) for the crop stage are found on at most this many sampled frames, spread
# evenly: a 20 s clip gets every sampled frame, 10 minutes one frame in ten. About 9 ms and
# 15 KB each, so a long video costs well under a second here and ~1 MB in the feature cache.
KEYFRAMES = 60
# Metadata that is not a column: kept in the item's metadata JSON beside the columns.
_EXTRA_KEYS = ("captured_at_source", "rotation", "has_audio", "audio_codec", "container_format")


def extract(path: str | Path) -> Extracted:
    """Metadata, one perceptual hash row set per sampled frame, and keyframe keypoints.

    Stored rows carry `frame_seconds`. Query-only rows are each frame's mirror image (PDQ
    "flipy"): a mirrored re-post is matched frame by frame; other dihedral turns are not
    searched for video (a player applies the rotation tag; rotated pixels are rare).
    Raises BadInput for anything that is not a complete, decodable video.
    """
    from .. import keyframes
    from ..localmatch import local_features
    from .extract import Extracted, hash_pixels

    meta = video_metadata(path)
    out = Extracted(mime=_mime(meta["container_format"]))
    out.raw_metadata = {"container": meta.pop("raw")}
    captured, source = meta.get("captured_at"), meta.get("captured_at_source")
    if captured and source == "com.apple.quicktime.creationdate":
        # Apple's tag is local time with its offset; creation_time is UTC, not a local zone.
        offset = re.search(r"[+-]\d{2}:\d{2}$", captured)
        meta["captured_offset"] = offset.group(0) if offset else None
    out.metadata = {k: v for k, v in meta.items() if v is not None or k in _EXTRA_KEYS}

    # Sampling is about one frame a second: the duration says how sparse keyframes must be.
    step = max(1, math.ceil((meta.get("duration_seconds") or 0) / KEYFRAMES))
    chosen: list[tuple[float, Any]] = []
    count = 0
    for seconds, image in _read_ahead(sample_frames(path)):
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


def _mime(container_format: str | None) -> str | None:
    names = (container_format or "").split(",")
    if "mp4" in names or "mov" in names:
        return None  # sniffing already told MP4 from QuickTime; the demuxer cannot
    for name, mime in (("matroska", "video/x-matroska"), ("webm", "video/webm"),
                       ("avi", "video/x-msvideo"), ("mpegts", "video/mp2t")):
        if name in names:
            return mime
    return None


def _read_ahead(frames: Iterator[tuple[float, Image]], depth: int = 8
                ) -> Iterator[tuple[float, Image]]:
    """Decode in a thread while the caller hashes: FFmpeg releases the GIL while decoding,
    so on two cores decoding and hashing overlap instead of taking turns. Exceptions
    (BadInput for corrupt data) reach the caller in order, after the frames before them."""
    import queue
    import threading

    done = object()
    box: queue.Queue[Any] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in frames:
                while not stop.is_set():
                    try:
                        box.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            box.put(done)
        except BaseException as exc:  # handed to the consumer, re-raised there
            box.put(exc)

    worker = threading.Thread(target=produce, name="prov-video-decode", daemon=True)
    worker.start()
    try:
        while True:
            item = box.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        worker.join()
