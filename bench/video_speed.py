"""Benchmark: `analyse()` (what `prov add` runs per file) on 10 minutes of 720p H.264.

Budget (DESIGN.md): 20x real time or faster, i.e. <= 30 s for the 600 s video.

    .venv/bin/python bench/video_speed.py [--minutes 10]

The test video is generated once and cached under bench/out/ (gitignored): 1280x720, 30 fps,
x264 veryfast CRF 23 with sensor-like grain (about 5 Mbit/s), AAC audio, a keyframe every 250
frames and no scene-cut keyframes: the sparse keyframes of a phone recording, which is the
slow case for the sampler.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from fixtures.video import Scene, write_video  # noqa: E402
from provenance.ingest.analysis import analyse  # noqa: E402
from provenance.media.video.container import video_metadata  # noqa: E402

OUT = ROOT / "bench" / "out"
FPS = 30


def bench_video(minutes: float) -> Path:
    path = OUT / f"bench_720p_{minutes:g}min.mp4"
    if path.exists():
        return path
    OUT.mkdir(parents=True, exist_ok=True)
    scene = Scene(seed=11, width=1280, height=720)
    # Sensor grain: without it synthetic footage compresses far better than real footage and
    # decodes unrealistically fast. Eight cycled grain fields keep generation cheap.
    rng = np.random.default_rng(5)
    grain = rng.integers(0, 3, size=(8, 720, 1280, 3), dtype=np.uint8)

    def source(t: float) -> np.ndarray:
        frame = scene.frame(t)
        frame += grain[int(round(t * FPS)) % 8]
        return frame

    started = time.perf_counter()
    tmp = path.with_suffix(".tmp.mp4")
    write_video(
        tmp,
        seconds=minutes * 60,
        fps=FPS,
        width=1280,
        height=720,
        keyint=250,
        options={"crf": "23", "threads": "0"},
        source=source,
        audio=True,
    )
    tmp.rename(path)
    print(f"generated {path.name} in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    return path


def main() -> None:
    import statistics

    from provenance.matching import pdq as pdqfast
    from provenance.media import stretches

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--runs", type=int, default=1, help="repeat; medians are printed too")
    args = parser.parse_args()

    path = bench_video(args.minutes)
    size_mb = path.stat().st_size / 1e6
    meta = video_metadata(path)
    duration = float(meta["duration_seconds"])
    python = platform.python_version()
    cores = len(os.sched_getaffinity(0))
    import av

    with av.open(str(path)) as container:
        cuts = stretches.plan(path, container, container.streams.video[0])
    print(f"machine      {platform.machine()}, {cores} cores, Python {python}")
    print(
        f"video        {path.name}: {duration:.0f} s, {meta['width']}x{meta['height']} "
        f"{meta['codec']} {meta['frame_rate']:g} fps, {size_mb:.0f} MB "
        f"({size_mb * 8 / duration:.1f} Mbit/s)"
    )
    print(f"decoding     {len(cuts) + 1} stretches between IDR frames, {cores} at a time; "
          f"PDQ {'native' if pdqfast.native() else 'pdqhash fallback'}")

    walls, cpus = [], []
    for _ in range(args.runs):
        # The real pipeline, as `prov add` runs it in a worker: SHA-256 and MD5 of the bytes,
        # sniffing, container metadata, ~1 fps sampling, PDQ + pHash + region PDQs + mirror
        # PDQ per frame, ORB keypoints on up to 60 frames.
        load_before = os.getloadavg()[0]
        cpu_started = time.process_time()
        started = time.perf_counter()
        analysis = analyse(str(path))
        total = time.perf_counter() - started
        cpu = time.process_time() - cpu_started
        if analysis.error:
            raise SystemExit(f"analyse failed: {analysis.error}")
        frames = analysis.metadata.get("frames_hashed", 0)
        walls.append(total)
        cpus.append(cpu)
        # Wall time on a shared machine measures the neighbours too: CPU seconds and the
        # load average say how busy it was. Decoding uses several threads, so CPU can
        # exceed wall.
        print(f"analyse()    {total:.1f} s wall = {duration / total:.1f}x real time "
              f"(budget: 20x); cpu {cpu:.1f} s; load average {load_before:.1f} -> "
              f"{os.getloadavg()[0]:.1f}; {frames} frames, {len(analysis.hashes)} hash rows",
              flush=True)
    if args.runs > 1:
        wall = statistics.median(walls)
        print(f"median       {wall:.1f} s wall = {duration / wall:.1f}x real time; "
              f"cpu {statistics.median(cpus):.1f} s")


if __name__ == "__main__":
    main()
