"""Decoding an H.264/HEVC video as stretches between IDR frames, on one thread per core.

An IDR frame empties the decoder's reference pictures: from one IDR to the next, a stretch
decodes to exactly the pixels a decoder running from the start would give (tests/test_video.py
compares every sampled frame). Each worker thread has its own decoder, so the cores never
wait on one another, where one decoder's slice or frame threads wait at every frame: on the
10-minute 720p bench, slice threads kept 1.3 of the 2 cores busy (bench/README-video.md).
One thread reads the packets in file order and hands each stretch to a worker; results come
back in file order.

Only MP4/MOV files, whose index gives the decode time and byte position of every keyframe, are
cut: where they will be cut is known before decoding starts, so no stretch can grow without
bound (an open-GOP stream whose keyframes are not IDR frames is decoded in one piece).
"""

from __future__ import annotations

import os
import threading
from collections import deque
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from av.container import InputContainer
    from av.video.frame import VideoFrame
    from av.video.stream import VideoStream

R = TypeVar("R")

# About this much video per stretch: long enough that starting one costs nothing measurable,
# short enough that the last stretch leaves a core idle only briefly and that the decoded
# frames waiting their turn stay small (20 sampled frames, ~5 MB).
STRETCH_SECONDS = 20.0


def plan(path: str | Path, container: InputContainer, stream: VideoStream) -> list[int]:
    """Decode timestamps (stream time base) of the IDR frames to cut at, about STRETCH_SECONDS
    apart; empty when the video cannot be cut or one core would do all the work anyway."""
    if (os.cpu_count() or 1) < 2 or not stream.time_base:
        return []
    names = container.format.name.split(",")
    if "mp4" not in names and "mov" not in names:
        return []
    codec = stream.codec_context.name
    length_size = _nal_length_size(codec, bytes(stream.codec_context.extradata or b""))
    if length_size is None:
        return []
    keys = [e for e in stream.index_entries if e.is_keyframe]
    if len(keys) < 2:
        return []
    spacing = STRETCH_SECONDS / stream.time_base
    cuts: list[int] = []
    last = keys[0].timestamp
    with open(path, "rb") as fh:
        for entry in keys[1:]:
            if entry.timestamp - last < spacing:
                continue
            fh.seek(entry.pos)
            if is_idr(fh.read(min(entry.size, 1 << 16)), codec, length_size):
                cuts.append(entry.timestamp)
                last = entry.timestamp
    return cuts


def decode(
    path: str | Path,
    container: InputContainer,
    stream: VideoStream,
    cuts: list[int],
    configure: Callable[[VideoStream], None],
    work: Callable[[Iterator[VideoFrame]], R],
) -> Iterator[R]:
    """`work(frames of one stretch)` for every stretch between `cuts`, in file order.

    Packets are read from `container` in this thread; each worker thread decodes with the
    stream of its own container (opened on `path`, set up by `configure`). An FFmpeg error
    while reading packets is raised after the stretches before it have been yielded.
    """
    import av

    codec = stream.codec_context.name
    length_size = _nal_length_size(codec, bytes(stream.codec_context.extradata or b""))
    workers = os.cpu_count() or 1
    time_base = stream.time_base
    local = threading.local()
    opened: list[InputContainer] = []
    lock = threading.Lock()
    stop = threading.Event()

    def decoder() -> VideoStream:
        if not hasattr(local, "stream"):
            own = av.open(str(path))
            with lock:
                opened.append(own)
            local.stream = own.streams.video[stream.index]
            configure(local.stream)
        return local.stream

    def run(packets: list[Any]) -> R:
        context = decoder().codec_context
        context.flush_buffers()  # a previous stretch ended with a drain

        def frames() -> Iterator[VideoFrame]:
            for packet in packets:
                if stop.is_set():
                    return
                yield from context.decode(packet)
            drain = av.Packet()  # empty: "no more input", and frames keep their time base
            if time_base is not None:
                drain.time_base = time_base
            yield from context.decode(drain)

        return work(frames())

    from concurrent.futures import Future, ThreadPoolExecutor

    pool = ThreadPoolExecutor(workers, thread_name_prefix="prov-video-stretch")
    pending: deque[Future[R]] = deque()
    failure: Exception | None = None
    try:
        upcoming = deque(cuts)
        packets: list[Any] = []
        try:
            for packet in container.demux(stream):
                if packet.size == 0:
                    continue  # the demuxer's end marker: each stretch drains its own decoder
                if (upcoming and packets and packet.is_keyframe and packet.dts is not None
                        and packet.dts >= upcoming[0]
                        and is_idr(bytes(packet), codec, length_size)):
                    while upcoming and upcoming[0] <= packet.dts:
                        upcoming.popleft()
                    pending.append(pool.submit(run, packets))
                    packets = []
                    while len(pending) > workers or (pending and pending[0].done()):
                        yield pending.popleft().result()
                packets.append(packet)
        except av.error.FFmpegError as exc:
            failure = exc
        if packets:
            pending.append(pool.submit(run, packets))
        while pending:
            yield pending.popleft().result()
        if failure is not None:
            raise failure
    finally:
        stop.set()
        for future in pending:
            future.cancel()
        pool.shutdown(wait=True)
        for own in opened:
            own.close()


def _nal_length_size(codec: str, extradata: bytes) -> int | None:
    """Bytes in each NAL unit's length prefix (avcC / hvcC), None for start-code streams."""
    if codec == "h264" and len(extradata) >= 5 and extradata[0] == 1:
        return (extradata[4] & 3) + 1
    if codec == "hevc" and len(extradata) >= 23 and extradata[0] == 1:
        return (extradata[21] & 3) + 1
    return None


def is_idr(data: bytes, codec: str, length_size: int | None) -> bool:
    """Whether a length-prefixed access unit's first coded slice is an IDR picture.

    Only an IDR guarantees that nothing after it refers to anything before it: an H.264
    I-slice after a recovery point, or an HEVC CRA, may have leading pictures that do.
    """
    if length_size is None:
        return False
    i = 0
    while i + length_size < len(data):
        length = int.from_bytes(data[i:i + length_size], "big")
        i += length_size
        if codec == "h264":
            kind = data[i] & 0x1F
            if 1 <= kind <= 5:  # coded slice (or slice data partition)
                return kind == 5
        else:
            kind = (data[i] >> 1) & 0x3F
            if kind < 32:  # VCL NAL unit
                return kind in (19, 20)  # IDR_W_RADL, IDR_N_LP
        i += length
    return False
