"""Benchmark: `prov capture` of a 200 MB video from a local server, against yt-dlp alone.

Goal (issue 16): within 1.2x of yt-dlp's time on the same download, in the same run.

    .venv/bin/python bench/capture.py [--mb 200] [--rounds 3] [--video noise|phone|both]
                                      [--rates 0,125,25]

Two videos, generated once and cached under bench/out/ (gitignored): `noise`, 640x360 H.264
of noise frames, lossless (CRF 0, ultrafast), the decoder's worst case (every byte is
picture); and `phone`, 1920x1080 H.264 at 16 Mbit/s, 30 fps, a keyframe each second, as a
phone records (moving footage with sensor grain). The server is fixtures/web.py on
127.0.0.1, in a process of its own (as a web server is: it does not share this process's
interpreter lock with what is measured), unthrottled and then paced at each rate of
`--rates` (MB/s, 0 unthrottled; 125 MB/s is a 1 Gbit/s link), a fresh server for each.
Each round runs, in turn: yt-dlp alone (the library) on the direct link; `prov capture` of
the direct link; yt-dlp alone on a page embedding it (its extraction, then the download);
and `prov capture` of that page (yt-dlp inside prov), each compared with yt-dlp on the same
URL. Before the rates, one core's seconds for each digest over the file are printed, and
after the unthrottled rows the least time the digests allow beside yt-dlp's own work on
the machine's cores (memory speed cannot meet the goal while they are recorded). Medians
are reported, with the
machine's load before and after each round, and the CPU seconds this process spent (the
client's work: steadier than the wall clock on a shared machine).

For each capture three times are reported beside yt-dlp's: secured (the one transaction
holding the items, their SHA-256/MD5, their stored copies, the WACZ and the
`capture.recorded` event committed), returned (when `prov capture` hands back: the
perceptual analysis of the video has been started in a background process, as the
command does by default) and the background analysis (from its start to its end: decoding
the video, hashing its frames, the re-upload check, item.analysed committed). Each round
waits for the background analysis before the next measurement starts.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from fixtures import web  # noqa: E402
from fixtures.video import write_video  # noqa: E402
from provenance.ingest import capture  # noqa: E402
from provenance.ledger.db import open_db  # noqa: E402

OUT = ROOT / "bench" / "out"


def big_video(mb: int) -> Path:
    path = OUT / f"capture_{mb}mb.mp4"
    if path.exists():
        return path
    OUT.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(5)
    # Lossless noise at 640x360 is about 0.4 MB a frame.
    frames = int(mb * 1024 * 1024 / 400_000) + 1
    pool = [rng.integers(0, 256, (360, 640, 3), dtype=np.uint8) for _ in range(16)]
    write_video(path, seed=1, seconds=frames / 25, fps=25, width=640, height=360, keyint=50,
                options={"crf": "0", "preset": "ultrafast"},
                source=lambda t: pool[int(t * 25) % len(pool)])
    return path


def phone_video(mb: int) -> Path:
    """A realistic clip: 1920x1080 H.264 at 16 Mbit/s, 30 fps, a keyframe each second (a
    phone's camera settings), moving footage with sensor grain, ~`mb` MB long."""
    path = OUT / f"capture_phone_{mb}mb.mp4"
    if path.exists():
        return path
    OUT.mkdir(parents=True, exist_ok=True)
    from fixtures.video import Scene

    width, height, fps, bitrate = 1920, 1080, 30, 16_000_000
    seconds = mb * 1024 * 1024 * 8 / bitrate
    scene = Scene(7, width, height)
    rng = np.random.default_rng(7)
    grain = [rng.integers(-12, 13, (height, width, 3), dtype=np.int16) for _ in range(8)]

    def frame(t: float) -> np.ndarray:
        base = scene.frame(t).astype(np.int16)
        return np.clip(base + grain[int(t * fps) % len(grain)], 0, 255).astype(np.uint8)

    write_video(path, seed=7, seconds=seconds, fps=fps, width=width, height=height,
                keyint=fps, options={"preset": "ultrafast", "crf": "-1", "b": str(bitrate),
                                     "maxrate": str(bitrate * 3 // 2),
                                     "bufsize": str(bitrate * 2)},
                source=frame)
    return path


@dataclass
class Round:
    """One measured run: wall seconds, and CPU seconds of this process (the client)."""

    wall: float
    cpu: float
    stages: dict[str, float] = field(default_factory=dict)
    secured: float = 0.0
    analysis: float | None = None  # the background analysis, start to end


def ytdlp_alone(url: str, work: Path) -> Round:
    import yt_dlp

    target = work / "ytdlp"
    target.mkdir()
    cpu, started = time.process_time(), time.perf_counter()
    with yt_dlp.YoutubeDL({"outtmpl": str(target / "%(id)s.%(ext)s"), "quiet": True,
                           "no_warnings": True, "noprogress": True, "cachedir": False}) as ydl:
        ydl.download([url])
    took = Round(time.perf_counter() - started, time.process_time() - cpu)
    shutil.rmtree(target)
    return took


def load() -> str:
    return "/".join(f"{x:.2f}" for x in os.getloadavg())


def prov_capture(url: str, work: Path) -> Round:
    """What `prov capture URL` does by default: secure, start the analysis, return."""
    from provenance.ingest import deferred

    folder = work / "prov"
    folder.mkdir()
    conn = open_db(folder / "evidence.db", create=True)
    opts = capture.CaptureOptions(render=False)
    cpu, started = time.process_time(), time.perf_counter()
    got = capture.capture(conn, url, opts, by="bench")
    proc = deferred.start_background(conn, got.pending, by="bench") if got.pending else None
    took = Round(time.perf_counter() - started, time.process_time() - cpu, got.timings,
                 got.timings["committed"])
    assert got.status == "captured" and any(f["kind"] == "video" for f in got.files), got
    if proc is not None:
        spawned = started + took.wall
        code = proc.wait()
        took.analysis = time.perf_counter() - spawned
        state = conn.execute("SELECT state FROM item_analyses WHERE item = ?",
                             (got.pending[0],)).fetchone()
        assert code == 0 and state[0] == "analysed", (code, state[0])
    conn.close()
    shutil.rmtree(folder)
    return took


@contextmanager
def server_process(site: web.Site) -> Iterator[str]:
    """fixtures/web.py serving `site` from a process of its own; yields its base URL."""
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    told: Any = context.Queue()
    proc = context.Process(target=_serve, args=(site, told), daemon=True)
    proc.start()
    try:
        yield told.get(timeout=60)
    finally:
        proc.terminate()
        proc.join()


def _serve(site: web.Site, told: Any) -> None:
    with web.serve(site) as running:
        told.put(running.base)
        threading.Event().wait()


VIDEOS = {"noise": big_video, "phone": phone_video}


def hash_costs(video: Path) -> dict[str, float]:
    """Seconds of one core for each digest a capture takes over the file (in memory)."""
    import hashlib
    import zlib

    data = video.read_bytes()
    out = {}
    for name in ("sha256", "md5", "crc32"):
        began = time.process_time()
        if name == "crc32":
            zlib.crc32(data)
        else:
            hashlib.new(name, data).hexdigest()
        out[name] = time.process_time() - began
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--video", choices=[*VIDEOS, "both"], default="both",
                    help="noise: lossless noise, the decoder's worst case; phone: 1080p H.264"
                         " at 16 Mbit/s")
    ap.add_argument("--rates", default="0,125,25",
                    help="the server's pace, MB/s, comma-separated (0: unthrottled; 125 is"
                         " 1 Gbit/s, 25 is 200 Mbit/s)")
    args = ap.parse_args()
    rates = [float(r) for r in args.rates.split(",")]
    os.environ["PROV_CHROMIUM"] = ""
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores,"
          f" Python {platform.python_version()}")
    for name in VIDEOS if args.video == "both" else [args.video]:
        video = VIDEOS[name](args.mb)
        costs = hash_costs(video)
        size = video.stat().st_size / 1e6
        print(f"\n== {name}: {video.name}, {size:.1f} MB ==")
        print("one core's seconds per digest over the file: " + ", ".join(
            f"{k} {v:.3f} s" for k, v in costs.items()))
        floor = (costs["sha256"] + costs["md5"]) / 2
        print("what recording the hashes costs at memory speed: the media item needs SHA-256"
              f" and MD5, {costs['sha256'] + costs['md5']:.2f} s of CPU, at best"
              f" {floor:.2f} s of wall on 2 free cores; the WACZ holding the bytes again needs"
              f" its own SHA-256 and MD5, the WARC a SHA-256, the zip a CRC32: in all"
              f" {3 * costs['sha256'] + 2 * costs['md5'] + costs['crc32']:.2f} s of CPU"
              " beside the download")
        for rate in rates:
            run_one(name, video, args.rounds, rate, costs)


def run_one(name: str, video: Path, rounds: int, rate: float, costs: dict[str, float]) -> None:
    size = video.stat().st_size / 1e6
    site = web.Site(files={"/media/clip.mp4": (video, "video/mp4"),
                           "/media/one.jpg": (b"", "image/jpeg")}, rate=rate * 1e6)
    site.state["version"] = 1
    loads = [load()]
    alone: list[Round] = []
    alone_page: list[Round] = []
    direct: list[Round] = []
    page: list[Round] = []
    with server_process(site) as base, tempfile.TemporaryDirectory(dir=OUT) as tmp:
        work = Path(tmp)
        for _ in range(rounds):
            alone.append(ytdlp_alone(f"{base}/media/clip.mp4", work))
            direct.append(prov_capture(f"{base}/media/clip.mp4", work))
            alone_page.append(ytdlp_alone(f"{base}/post", work))
            page.append(prov_capture(f"{base}/post", work))
            loads.append(load())
    pace = (f"server paced at {rate:g} MB/s ({rate * 8 / 1000:g} Gbit/s)" if rate
            else "server unthrottled (loopback)")
    print(f"\n-- {name}, {pace} --")
    print(f"load average (1/5/15 min) before and after each round: {'; '.join(loads)}"
          f" (a shared machine: other jobs ran beside); {rounds} rounds, medians")
    def line(label: str, runs: list[float], cpu: list[float] | None,
             against: list[Round]) -> None:
        t, base_wall = statistics.median(runs), statistics.median(r.wall for r in against)
        base_cpu = statistics.median(r.cpu for r in against)
        extra = (f"   cpu {statistics.median(cpu):5.2f} s"
                 f" ({statistics.median(cpu) / base_cpu:4.2f}x)" if cpu else "")
        print(f"{label:<44} {t:6.2f} s {size / t:7.1f} MB/s {t / base_wall:5.2f}x yt-dlp"
              f"   (runs: {', '.join(f'{r:.2f}' for r in runs)}){extra}")

    for label, runs, against in (("direct link", direct, alone),
                                 ("page, via yt-dlp", page, alone_page)):
        line(f"yt-dlp alone ({label.split(',')[0]})", [r.wall for r in against],
             [r.cpu for r in against], against)
        line(f"prov capture ({label}), secured", [r.secured for r in runs], None, against)
        line(f"prov capture ({label}), returned", [r.wall for r in runs], [r.cpu for r in runs],
             against)
        analysis = [r.analysis for r in runs if r.analysis is not None]
        if analysis:
            t = statistics.median(analysis)
            print(f"{'  then its analysis, in the background':<44} {t:6.2f} s"
                  f"   (runs: {', '.join(f'{r:.2f}' for r in analysis)})")
    if not rate:
        # What the digests alone cost beside yt-dlp's own work, on 2 cores at best; against
        # yt-dlp's fastest run (the least disturbed by the machine's other work).
        wall = min(r.wall for r in alone)
        cpu = min(r.cpu for r in alone)
        digests = 3 * costs["sha256"] + 2 * costs["md5"] + costs["crc32"]
        media = costs["sha256"] + costs["md5"]
        cores = os.cpu_count() or 1
        for what, extra in (("the media item's SHA-256 and MD5", media),
                            ("every digest a capture records", digests + costs["sha256"])):
            floor = max(costs["md5"], (cpu + extra) / cores)
            print(f"floor with {what} ({extra:.2f} s CPU) beside yt-dlp's {cpu:.2f} s, on"
                  f" {cores} free cores: {floor:.2f} s, {floor / wall:.2f}x yt-dlp's"
                  f" fastest, {wall:.2f} s (the server's own CPU not counted)")
    for label, runs in (("direct link", direct), ("page", page)):
        stages: dict[str, list[float]] = {}
        for r in runs:
            for k, v in r.stages.items():
                stages.setdefault(k, []).append(v)
        print(f"{label}, by stage (medians): " + ", ".join(
            f"{k} {statistics.median(v):.2f} s" for k, v in stages.items()
            if k not in ("committed", "analyse")))


if __name__ == "__main__":
    main()
