"""Audio files and a video's sound track: container metadata, and the sound decoded to samples.

PyAV is imported inside the functions so that `prov --help` stays instant. Fingerprints are
computed from the samples in provenance.matching.audiofp; this module only reads files.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from provenance.errors import BadInput
from provenance.media.video.container import first_tag, raw_tags
from provenance.media.video.tags import parse_datetime

if TYPE_CHECKING:
    import numpy as np
    from av.audio.stream import AudioStream
    from av.container import InputContainer

# Where recorders, phones and encoders put each fact, best source first (as for video).
_CAPTURED_AT_KEYS = ("com.apple.quicktime.creationdate", "creation_time", "date",
                     "date_recorded", "icrd", "originationdate")
_MAKE_KEYS = ("com.apple.quicktime.make", "make", "com.android.manufacturer")
_MODEL_KEYS = ("com.apple.quicktime.model", "model", "com.android.model")
_SOFTWARE_KEYS = ("com.apple.quicktime.software", "software", "isft", "encoder",
                  "encoded_by")

# Fingerprints are taken from the sound resampled to this rate, mono: telephone band and
# below is where speech lives and what every copy (an 8 kHz phone call too) still carries.
FINGERPRINT_RATE = 8000


def audio_metadata(path: str | Path) -> dict[str, Any]:
    """Facts about an audio file under the keys video uses, plus every tag in `raw`.

    `captured_at` is ISO 8601 (with offset when the file records one); `captured_at_source`
    names the tag it came from. Raises BadInput for anything that is not a complete,
    decodable audio file, and for a file whose main stream is a picture (a video).
    """
    import av

    with open_audio(path) as container:
        stream = audio_stream(container, path)
        tags = {k.lower(): v for k, v in container.metadata.items()}
        for k, v in stream.metadata.items():
            tags.setdefault(k.lower(), v)
        captured_at, source = None, None
        for key in _CAPTURED_AT_KEYS:
            captured_at = parse_datetime(tags.get(key))
            if captured_at:
                source = key
                break
        try:
            first = next(iter(container.decode(stream)), None)
        except av.error.FFmpegError as exc:
            raise BadInput(str(path), f"corrupt audio data: {exc.strerror or exc}") from None
        if first is None:
            raise BadInput(str(path), "truncated or corrupt: no audio could be decoded")
        ctx = stream.codec_context
        return {
            "captured_at": captured_at,
            "captured_at_source": source,
            "make": first_tag(tags, _MAKE_KEYS),
            "model": first_tag(tags, _MODEL_KEYS),
            "software": first_tag(tags, _SOFTWARE_KEYS),
            "duration_seconds": _duration(container, stream),
            "codec": ctx.name,
            "sample_rate": ctx.sample_rate or first.sample_rate,
            "channels": ctx.channels or len(first.layout.channels),
            "bit_rate": ctx.bit_rate or container.bit_rate or None,
            "title": first_tag(tags, ("title",)),
            "artist": first_tag(tags, ("artist", "author")),
            "container_format": container.format.name,
            "raw": raw_tags(container),
        }


def open_audio(path: str | Path) -> InputContainer:
    import av

    subject = str(path)
    if not os.path.isfile(path):
        raise BadInput(subject, "no such file")
    try:
        return av.open(subject, metadata_errors="replace")
    except av.error.FFmpegError:
        raise BadInput(subject, "not an audio file FFmpeg can read (unknown or corrupt"
                                " format)") from None


def audio_stream(container: InputContainer, path: str | Path) -> AudioStream:
    """The first audio stream; refuse a file with none, or one that is really a video."""
    import av

    pictures = [s for s in container.streams.video
                if not s.disposition & av.stream.Disposition.attached_pic]
    if pictures:
        raise BadInput(str(path), "has a video stream: register it as a video (its sound is"
                                  " fingerprinted too)")
    if not container.streams.audio:
        kinds = [s.type for s in container.streams]
        found = f"streams: {', '.join(kinds)}" if kinds else "no streams at all"
        raise BadInput(str(path), f"no audio stream ({found})")
    return container.streams.audio[0]


def has_sound(container: InputContainer) -> bool:
    return bool(container.streams.audio)


def decode_mono(path: str | Path, rate: int = FINGERPRINT_RATE) -> np.ndarray | None:
    """The first audio stream of any file FFmpeg reads, as mono float32 samples at `rate`.

    None when the file has no audio stream. Decoding errors part-way through keep what was
    decoded before them (a damaged tail still leaves the sound before it to match on).
    """
    import av
    import numpy as np

    try:
        container = av.open(str(path), metadata_errors="replace")
    except av.error.FFmpegError as exc:
        raise BadInput(str(path), f"cannot decode its sound: {exc.strerror or exc}") from None
    with container:
        if not container.streams.audio:
            return None
        stream = container.streams.audio[0]
        resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)
        parts: list[np.ndarray] = []
        try:
            for frame in container.decode(stream):
                frame.pts = None  # the resampler only needs the samples, in order
                for out in resampler.resample(frame):
                    parts.append(out.to_ndarray().reshape(-1))
        except av.error.FFmpegError:
            pass  # keep what decoded (see the docstring)
        for out in resampler.resample(None):
            parts.append(out.to_ndarray().reshape(-1))
    if not parts:
        return np.zeros(0, np.float32)
    return np.concatenate(parts).astype(np.float32, copy=False)


def _duration(container: InputContainer, stream: AudioStream) -> float | None:
    if stream.duration and stream.time_base:
        return round(float(stream.duration * stream.time_base), 3)
    if container.duration:
        return round(container.duration / 1_000_000, 3)
    return None


