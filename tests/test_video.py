"""Tests for provenance.media.video: metadata, frame sampling, pruning, broken inputs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from fixtures import video as fx
from provenance.errors import BadInput
from provenance.media.video.container import video_metadata
from provenance.media.video.sampling import sample_frames
from provenance.media.video.tags import parse_datetime, parse_iso6709

W, H = 192, 108
APPLE_TAGS = fx.APPLE_TAGS


def _left_red_right_blue(t: float) -> np.ndarray:
    frame = np.zeros((H, W, 3), dtype=np.uint8)
    frame[:, : W // 2] = (220, 20, 20)
    frame[:, W // 2 :] = (20, 20, 220)
    return frame


@pytest.fixture(scope="module")
def videos(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("videos")
    v = {"uniforms": fx.write_video(d / "uniforms.mp4", seconds=12, width=W, height=H, audio=True)}
    v["portrait"] = fx.write_video(
        d / "portrait.mp4",
        seconds=3,
        width=W,
        height=H,
        creation_time="2024-10-18T04:12:09.000000Z",
        location=None,
        metadata=APPLE_TAGS,
        rotation=90,
        source=_left_red_right_blue,
    )
    v["dense"] = fx.write_video(d / "dense.mp4", seed=3, seconds=6, width=W, height=H, keyint=25)
    v["static"] = fx.write_video(d / "static.mp4", seconds=5, source=fx.static_scene(W, H))
    v["clip"] = fx.transcode(v["uniforms"], d / "clip.mp4", start=4, end=8)
    v["screenshot"] = fx.write_screenshot(v["uniforms"], d / "still.png", 5.0)
    v["wav"] = fx.write_audio_only(d / "tone.wav", seconds=1)
    v["no_video"] = fx.write_audio_only(d / "no_video.mp4", seconds=1)
    v["truncated"] = fx.write_truncated(v["uniforms"], d / "truncated.mp4")
    v["truncated_faststart"] = fx.write_truncated(
        fx.faststart(v["uniforms"], d / "faststart.mp4"), d / "truncated_faststart.mp4"
    )
    v["garbage"] = fx.write_garbage(d / "garbage.mp4")
    return v


def _mean_difference(a: object, b: object) -> float:
    return float(np.abs(np.asarray(a, dtype=np.int16) - np.asarray(b, dtype=np.int16)).mean())


# --- metadata -------------------------------------------------------------------------------


def test_metadata_of_an_ffmpeg_written_mp4(videos: dict[str, Path]) -> None:
    meta = video_metadata(videos["uniforms"])
    assert meta["captured_at"] == "2024-10-17T09:30:00+00:00"
    assert meta["captured_at_source"] == "creation_time"
    assert (meta["gps_latitude"], meta["gps_longitude"]) == (43.3491, 133.3597)
    assert meta["gps_altitude"] is None
    assert meta["codec"] == "h264"
    assert (meta["width"], meta["height"], meta["rotation"]) == (W, H, 0)
    assert meta["duration_seconds"] == 12.0
    assert meta["frame_rate"] == 25.0
    assert meta["has_audio"] is True and meta["audio_codec"] == "aac"
    assert meta["make"] is None and meta["model"] is None
    assert meta["software"].startswith("Lavf")  # FFmpeg wrote it: provenance too
    assert meta["raw"]["tags"]["location"] == "+43.3491+133.3597/"
    assert json.loads(json.dumps(meta)) == meta


def test_metadata_prefers_apple_local_time_and_reads_rotation(videos: dict[str, Path]) -> None:
    meta = video_metadata(videos["portrait"])
    assert meta["captured_at"] == "2024-10-18T13:12:09+09:00"
    assert meta["captured_at_source"] == "com.apple.quicktime.creationdate"
    assert (meta["gps_latitude"], meta["gps_longitude"], meta["gps_altitude"]) == (
        43.3491,
        133.3597,
        12.0,
    )
    assert (meta["make"], meta["model"], meta["software"]) == ("Apple", "iPhone 13", "17.6.1")
    assert meta["rotation"] == 90
    assert (meta["width"], meta["height"]) == (W, H)  # as stored, like EXIF
    assert meta["has_audio"] is False


def test_transcoded_copy_has_lost_its_metadata(videos: dict[str, Path]) -> None:
    meta = video_metadata(videos["clip"])
    assert meta["captured_at"] is None and meta["gps_latitude"] is None
    assert meta["duration_seconds"] == 4.0


# --- sampling -------------------------------------------------------------------------------


def _on_grid(seconds: list[float], every: float, last: float) -> bool:
    """One frame at or just after each multiple of `every` (the sampler may skip B-frames,
    so up to a few frames late), then the last frame of the video."""
    *grid, final = seconds
    due = [k * every for k in range(len(grid))]
    return all(d <= t < d + 0.2 for t, d in zip(grid, due, strict=True)) and final == last


def test_one_frame_per_second_plus_the_last(videos: dict[str, Path]) -> None:
    frames = list(sample_frames(videos["uniforms"]))
    assert len(frames) == 13
    assert _on_grid([round(t, 2) for t, _ in frames], 1.0, 11.96)
    assert all(image.size == (W, H) and image.mode == "RGB" for _, image in frames)


def test_sampled_frames_localise_to_their_second(videos: dict[str, Path]) -> None:
    frames = list(sample_frames(videos["uniforms"]))
    scene = fx.Scene(1, W, H)
    for t, image in frames[1:11]:
        assert _mean_difference(image, scene.frame(t)) < 8
        for other in (int(t) - 1, int(t) + 1):
            assert _mean_difference(image, scene.frame(other)) > 12


def test_every_seconds_and_max_side(videos: dict[str, Path]) -> None:
    frames = list(sample_frames(videos["uniforms"], every_seconds=2.5, max_side=96))
    assert len(frames) == 6
    assert _on_grid([round(t, 2) for t, _ in frames], 2.5, 11.96)
    assert frames[0][1].size == (96, 54)
    with pytest.raises(ValueError):
        list(sample_frames(videos["uniforms"], every_seconds=0))


def test_every_frame_when_asked(videos: dict[str, Path]) -> None:
    frames = list(sample_frames(videos["clip"], every_seconds=1 / 25, prune_below=0))
    assert len(frames) == 100  # 4 s at 25 fps: nothing skipped


def test_keyframe_only_path_gives_the_same_frames(videos: dict[str, Path]) -> None:
    """With a keyframe every second the sampler decodes keyframes only; same result."""
    frames = list(sample_frames(videos["dense"]))
    assert [t for t, _ in frames] == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    scene = fx.Scene(3, W, H)
    for t, image in frames:
        assert _mean_difference(image, scene.frame(t)) < 8


def test_rotation_is_applied(videos: dict[str, Path]) -> None:
    (_, image), *_ = sample_frames(videos["portrait"])
    assert image.size == (H, W)  # upright: portrait
    top, bottom = image.getpixel((H // 2, 5)), image.getpixel((H // 2, W - 5))
    # A 90-degree clockwise turn brings the left (red) edge to the top.
    assert top[0] > 150 > top[2] and bottom[2] > 150 > bottom[0]


def test_near_identical_frames_are_pruned_but_first_and_last_kept(
    videos: dict[str, Path],
) -> None:
    assert [round(t, 2) for t, _ in sample_frames(videos["static"])] == [0.0, 4.96]
    unpruned = list(sample_frames(videos["static"], prune_below=0))
    assert len(unpruned) == 6


def test_clip_timestamps_start_at_zero_and_match_the_source(videos: dict[str, Path]) -> None:
    clip = list(sample_frames(videos["clip"]))
    assert _on_grid([round(t, 2) for t, _ in clip], 1.0, 3.96)
    scene = fx.Scene(1, W, H)
    for t, image in clip:
        assert _mean_difference(image, scene.frame(4 + t)) < 8  # the clip began at 4 s


# --- broken and wrong inputs ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("truncated", "truncated or corrupt container: MP4/MOV with no 'moov' index box"),
        ("truncated_faststart", "truncated or corrupt container: its index needs"),
        ("garbage", "not a video file FFmpeg can read"),
        ("wav", "no video stream (audio only: pcm_s16le)"),
        ("no_video", "no video stream (audio only: aac)"),
        ("screenshot", "a still image (png), not a video"),
    ],
)
def test_bad_input(videos: dict[str, Path], name: str, reason: str) -> None:
    for call in (video_metadata, lambda p: list(sample_frames(p))):
        with pytest.raises(BadInput) as caught:
            call(videos[name])
        assert caught.value.subject == str(videos[name])
        assert caught.value.reason.startswith(reason)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match="no such file"):
        video_metadata(tmp_path / "nope.mp4")


def test_importing_the_module_does_not_import_pyav() -> None:
    code = ("import sys, provenance.media.video.container, provenance.media.video.sampling;"
            " print('av' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# --- tag parsing ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "position"),
    [
        ("+43.3491+133.3597/", (43.3491, 133.3597, None)),
        ("+43.3491+133.3597+012.000/", (43.3491, 133.3597, 12.0)),
        ("-33.8688+151.2093-010.5/", (-33.8688, 151.2093, -10.5)),
        ("+4320.946+13321.582/", (43.3491, 133.3597, None)),
        ("+432056.5-0733551.0/", (43.3490278, -73.5975, None)),
        ("+40.7484-073.9857+057.000CRS:WGS_84/", (40.7484, -73.9857, 57.0)),
        ("+91.0000+010.0000/", None),
        ("43.3491, 133.3597", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_iso6709(text: str | None, position: tuple | None) -> None:
    assert parse_iso6709(text) == position


@pytest.mark.parametrize(
    ("text", "iso"),
    [
        ("2024-10-17T09:30:00.000000Z", "2024-10-17T09:30:00+00:00"),
        ("2024-10-18T13:12:09+0900", "2024-10-18T13:12:09+09:00"),
        ("2024-10-18T13:12:09-05:00", "2024-10-18T13:12:09-05:00"),
        ("2024-10-17 09:30:00", "2024-10-17T09:30:00"),
        ("1970-01-01T00:00:00.000000Z", None),  # a muxer's zero date, not a capture time
        ("1904-01-01T00:00:00.000000Z", None),
        ("yesterday", None),
    ],
)
def test_parse_datetime(text: str, iso: str | None) -> None:
    assert parse_datetime(text) == iso
