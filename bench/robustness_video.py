"""Benchmark: is every re-posted copy of a video found, and located within +-1 s?

    .venv/bin/python bench/robustness_video.py

A 2-minute synthetic scene (640x360, 25 fps) and six distinct distractor videos are
registered in a fresh database; then each copy a re-poster makes is run through
`find` (what `prov match FILE` runs): re-encode to MPEG-4 Part 2, re-encode at a
low bitrate, resize, 20% crop, letterbox, watermark, a 20 s clip, 15 fps, mirror, and
screenshots of random frames. Media are cached under bench/out/robustness-video/.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from fixtures import video as fx  # noqa: E402

OUT = ROOT / "bench" / "out" / "robustness-video"
SIZE = {"width": 640, "height": 360}
CLIP = (40.0, 60.0)


def media() -> tuple[Path, list[Path], dict[str, tuple[Path, float | None, tuple | None]]]:
    """(original, distractors, copies: name -> (path, still's second, clip's span))."""
    OUT.mkdir(parents=True, exist_ok=True)

    def cached(name: str, make) -> Path:  # type: ignore[no-untyped-def]
        path = OUT / name
        if not path.exists():
            partial = OUT / f"partial-{name}"
            make(partial)
            partial.rename(path)
        return path

    src = cached("original.mp4", lambda p: fx.write_video(p, seed=21, seconds=120, **SIZE))
    distractors = [cached(f"distractor{s}.mp4", lambda p, s=s: fx.write_video(
        p, seed=100 + s, seconds=30, **SIZE)) for s in range(6)]

    def copy(name: str, **kw) -> Path:  # type: ignore[no-untyped-def]
        return cached(name, lambda p: fx.transcode(src, p, **kw))

    copies: dict[str, tuple[Path, float | None, tuple | None]] = {
        "re-encode (MPEG-4 Part 2)": (copy("mpeg4.mp4", codec="mpeg4"), None, None),
        "re-encode (x264 CRF 38)": (copy("crf38.mp4", options={"crf": "38"}), None, None),
        "resize to 320x180": (copy("small.mp4", transform=fx.resize(320, 180)), None, None),
        "crop 20%": (copy("crop.mp4", transform=fx.crop(0.8)), None, None),
        "letterbox": (copy("letterbox.mp4", transform=fx.letterbox()), None, None),
        "watermark": (copy("watermark.mp4", transform=fx.watermark()), None, None),
        "20 s clip (40-60 s)": (copy("clip.mp4", start=CLIP[0], end=CLIP[1]), None, CLIP),
        "15 fps": (copy("fps15.mp4", fps=15), None, None),
        "mirror": (copy("mirror.mp4", transform=fx.mirror()), None, None),
    }
    rng = np.random.default_rng(7)
    for i, second in enumerate(sorted(rng.uniform(1, 118, 6).round(2))):
        suffix = "png" if i % 2 else "jpg"
        path = cached(f"still_{second:.2f}.{suffix}",
                      lambda p, s=second: fx.write_screenshot(src, p.with_suffix(p.suffix), s))
        copies[f"screenshot at {second:.2f} s ({suffix})"] = (path, float(second), None)
    return src, distractors, copies


def main() -> None:
    from provenance.ingest import register as ingest
    from provenance.ingest.match import match as find
    from provenance.ledger.db import open_db

    started = time.perf_counter()
    src, distractors, copies = media()
    print(f"media ready in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    with tempfile.TemporaryDirectory() as tmp:
        conn = open_db(Path(tmp) / "evidence.db", create=True)
        held = ingest.add_paths(conn, [str(src), *map(str, distractors)],
                                ingest.Sighting(), by="bench")
        original = held[0].sha256
        print("| copy | found | verdict | how | located (truth) | error | others | time |")
        print("| --- | --- | --- | --- | --- | --- | --- | --- |")
        found_all = located_all = True
        for name, (path, second, span) in copies.items():
            t0 = time.perf_counter()
            doc = find(conn, str(path))
            elapsed = time.perf_counter() - t0
            ms = [m for m in doc["matches"] if m["verdict"] != "identical"]
            hit = next((m for m in ms if m["sha256"] == original), None)
            others = sum(1 for m in ms if m["sha256"] != original)
            located, truth, error = "-", "-", None
            if hit is not None and second is not None:
                located, truth = f"{hit.get('frame_seconds')}", f"{second:.2f}"
                error = abs(float(hit.get("frame_seconds") or -99) - second)
            elif hit is not None and span is not None:
                covers = hit["detail"].get("covers_seconds")
                located, truth = f"{covers}", f"[{span[0]:g}, {span[1]:g}]"
                error = max(abs(covers[0] - span[0]), abs(covers[1] - span[1]))
            found_all &= hit is not None and hit["verdict"] == "re-upload"
            if error is not None:
                # A 1 fps sample of a clip ending at 60 s has its last frame just before 59.x.
                located_all &= error <= 1.0
            how = f"{hit['algorithm']} {hit['distance']:g}" if hit else "-"
            print(f"| {name} | {'yes' if hit else 'NO'} | {hit['verdict'] if hit else '-'} | "
                  f"{how} | {located} ({truth}) | "
                  f"{'-' if error is None else f'{error:.2f} s'} | {others} | {elapsed:.1f} s |")
        print(f"\nall found as re-uploads: {found_all}; all located within 1 s: {located_all}")
        print(f"load average {os.getloadavg()[0]:.1f}, {len(os.sched_getaffinity(0))} cores")


if __name__ == "__main__":
    main()
