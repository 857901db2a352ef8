"""Decoding a video in stretches between IDR frames (provenance/media/stretches.py) samples
exactly the frames, pixel for pixel, that one decoder running from the start samples."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from fixtures import video as fx
from provenance.media import stretches
from provenance.media.video.sampling import sample_frames

W, H = 160, 96


@pytest.fixture(scope="module")
def videos(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("stretches")
    # An IDR frame every 2 s, B-frames (x264 veryfast), 25 fps.
    return {
        "plain": fx.write_video(d / "plain.mp4", seed=4, seconds=13, width=W, height=H,
                                keyint=50),
        "rotated": fx.write_video(d / "rotated.mp4", seed=5, seconds=9, width=W, height=H,
                                  keyint=50, rotation=90),
        "static": fx.write_video(d / "static.mp4", seconds=9, width=W, height=H, keyint=50,
                                 source=fx.static_scene(W, H)),
        # Open GOP: keyframes after the first are I-frames that B-frames before them refer
        # across, not IDR frames, so the video cannot be cut.
        "open_gop": fx.write_video(d / "open.mp4", seed=6, seconds=9, width=W, height=H,
                                   options={"x264-params": "keyint=50:min-keyint=25:"
                                            "scenecut=0:open-gop=1"}),
    }


@pytest.fixture
def short_stretches(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stretches, "STRETCH_SECONDS", 3.0)


def _sampled(path: Path, **kwargs: float) -> list[tuple[float, bytes]]:
    return [(t, image.tobytes()) for t, image in sample_frames(path, **kwargs)]


def _one_decoder(path: Path, monkeypatch: pytest.MonkeyPatch, **kwargs: float
                 ) -> list[tuple[float, bytes]]:
    with monkeypatch.context() as m:
        m.setattr(stretches, "plan", lambda *args: [])
        return _sampled(path, **kwargs)


def _cuts(path: Path) -> list[float]:
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return [round(float(c * stream.time_base), 2)
                for c in stretches.plan(path, container, stream)]


@pytest.mark.parametrize("name", ["plain", "rotated", "static"])
@pytest.mark.parametrize("every, prune", [(1.0, 2.0), (0.3, 2.0), (0.7, 0.0)])
def test_stretches_sample_what_one_decoder_samples(
    videos: dict[str, Path], monkeypatch: pytest.MonkeyPatch, short_stretches: None,
    name: str, every: float, prune: float,
) -> None:
    assert len(_cuts(videos[name])) >= 2
    kwargs = {"every_seconds": every, "prune_below": prune}
    assert _sampled(videos[name], **kwargs) == _one_decoder(videos[name], monkeypatch, **kwargs)


def test_cuts_fall_on_idr_frames_about_stretch_seconds_apart(
    videos: dict[str, Path], short_stretches: None
) -> None:
    assert _cuts(videos["plain"]) == pytest.approx([3.92, 7.92, 11.92], abs=0.1)


def test_an_open_gop_video_is_not_cut(videos: dict[str, Path], short_stretches: None) -> None:
    assert _cuts(videos["open_gop"]) == []
    assert len(_sampled(videos["open_gop"])) == 10


def test_a_reader_that_stops_early_leaves_no_thread_behind(
    videos: dict[str, Path], short_stretches: None
) -> None:
    before = threading.active_count()
    frames = sample_frames(videos["plain"])
    next(frames)
    frames.close()
    assert threading.active_count() == before


def test_is_idr_reads_the_first_slice() -> None:
    def unit(*nals: bytes) -> bytes:
        return b"".join(len(n).to_bytes(4, "big") + n for n in nals)

    sei, idr, non_idr = b"\x06\x05\x01", b"\x65\x88\x84", b"\x41\x9a\x02"
    assert stretches.is_idr(unit(sei, idr), "h264", 4)
    assert not stretches.is_idr(unit(sei, non_idr), "h264", 4)
    cra, idr_w_radl = bytes([21 << 1, 1]), bytes([19 << 1, 1])
    assert stretches.is_idr(unit(idr_w_radl), "hevc", 4)
    assert not stretches.is_idr(unit(cra), "hevc", 4)
    assert not stretches.is_idr(unit(idr), "h264", None)
