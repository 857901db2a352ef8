"""Sampling a video's frames for hashing: about one a second, near-identical ones pruned.

PyAV, numpy and Pillow are imported inside the functions so that `prov --help` stays instant.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from provenance.errors import BadInput
from provenance.media.video.container import check_complete, frame_rate, open_video, video_stream

if TYPE_CHECKING:
    from av.video.frame import VideoFrame
    from av.video.stream import VideoStream
    from PIL.Image import Image



# Below this mean grey-level difference (0-255) between 16x16 thumbnails, a sampled frame
# adds nothing a matcher could use: a tripod shot, a slide, a paused screen recording.
PRUNE_BELOW = 2.0


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

    from provenance.media import stretches

    with open_video(path) as container:
        stream = video_stream(container, path)
        check_complete(container, path)
        skip = _skip_plan(stream, every_seconds)
        size = _target_size(stream, max_side)
        start = _start_seconds(stream)
        step = 1.0 / (frame_rate(stream) or 25.0)

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
    rate = frame_rate(stream)
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


def read_ahead(frames: Iterator[tuple[float, Image]], depth: int = 8
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
