"""Where `prov add`'s CPU goes, per file: for bench/ingest.py --stages.

Analysis (what the pool workers do), stage by stage in this process: the one read that
hashes (SHA-256, MD5), the header reads, the reduced decode, EXIF, the hashes (PDQ with its
windows, pHash, the dihedral variants), the keypoints. Then a whole `prov add` of the
folder in this process with timers round the main process's stages (registration, the
re-upload check and its parts), and the CPU of the process and of its workers.
"""

from __future__ import annotations

import functools
import io
import os
import resource
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def analysis_stages(files: list[Path]) -> dict[str, dict[str, float]]:
    """CPU seconds per stage of extract_image's work over `files` (one process), per group
    of files (the name's part before "_": camera, heic, phone, screenshot in the mixed set)."""
    from PIL import Image

    from provenance.ingest import analysis
    from provenance.matching import hashing, localmatch
    from provenance.matching.bandkeys import with_band
    from provenance.media import exif

    analysis._preload()
    groups: dict[str, dict[str, float]] = {}
    for path in files:
        marks = [("", time.process_time())]
        data = analysis._read(str(path), None).data
        assert data is not None
        marks.append(("read: SHA-256 + MD5", time.process_time()))
        hashing.pixel_size(data)
        with hashing.pixel_guard(None), Image.open(io.BytesIO(data)) as probe:
            probe.size  # noqa: B018
        marks.append(("headers", time.process_time()))
        img = hashing.load_image(data, name=str(path))
        marks.append(("decode (JPEG at 1/2-1/8, others whole)", time.process_time()))
        exif.read_exif(data)
        marks.append(("EXIF", time.process_time()))
        hashed = hashing.hash_picture(img)
        marks.append(("hashes: PDQ + windows, pHash, variants", time.process_time()))
        box = hashed.trimmed
        trimmed = img if box == (0, 0, img.width, img.height) else img.crop(box)
        with_band(localmatch.local_features(trimmed, mirrored=True), trimmed,
                  hashed.band).pack()
        marks.append(("keypoints (ORB, upright + mirrored)", time.process_time()))
        spent = groups.setdefault(path.name.split("_")[0] if "_" in path.name else "all", {})
        for (_, before), (name, after) in zip(marks, marks[1:], strict=False):
            spent[name] = spent.get(name, 0.0) + after - before
    return groups


def add_stages(folder: Path) -> tuple[dict[str, list[float]], float, float, float]:
    """A whole `prov add FOLDER` in this process into a fresh database, with timers round the
    main process's stages: ({stage: [wall, cpu, calls]}, wall, own CPU, workers' CPU)."""
    from typer.testing import CliRunner

    from provenance.cli import app
    from provenance.ingest import register
    from provenance.matching import bandkeys, catalogue, matchrule

    spent: dict[str, list[float]] = {}

    def timer(owner: Any, name: str, label: str) -> None:
        inner: Callable[..., Any] = getattr(owner, name)

        @functools.wraps(inner)
        def timed(*args: Any, **kwargs: Any) -> Any:
            w, c = time.perf_counter(), time.process_time()
            try:
                return inner(*args, **kwargs)
            finally:
                row = spent[label]
                row[0] += time.perf_counter() - w
                row[1] += time.process_time() - c
                row[2] += 1

        spent[label] = [0.0, 0.0, 0]  # printed in this order
        setattr(owner, name, timed)

    timer(register, "register", "register (item, log, stored copy, commit)")
    timer(register, "check_new_item", "re-upload check, all of it")
    timer(register, "put_features", "  keypoints written to the cache")
    timer(register, "catalogue", "  catalogue brought up to date")
    timer(catalogue.Catalogue, "keypoint_index", "  keypoint index topped up")
    timer(matchrule, "find", "  matching rule (candidates + crop stage)")
    timer(bandkeys, "check_pair", "    keypoint verification (pairs)")
    with tempfile.TemporaryDirectory(prefix="prov-stages-") as work:
        db = str(Path(work) / "evidence.db")
        runner = CliRunner()
        runner.invoke(app, ["--db", db, "init"], catch_exceptions=False)
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        mine = time.process_time()
        start = time.perf_counter()
        result = runner.invoke(app, ["--db", db, "add", str(folder)], catch_exceptions=False)
        wall = time.perf_counter() - start
        own = time.process_time() - mine
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.exit_code != 0:
        raise SystemExit(result.output)
    workers = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return spent, wall, own, workers


def report(folder: Path) -> None:
    files = sorted(p for p in folder.iterdir() if not p.name.startswith("."))
    n = len(files)
    start = time.process_time()
    import cv2  # noqa: F401  (what a worker has loaded before its first file)

    from provenance.ingest import register  # noqa: F401

    print(f"start-up imports (prov add's): {1000 * (time.process_time() - start):.0f} ms CPU")
    groups = analysis_stages(files)
    for group, stages in groups.items():
        count = sum(1 for p in files if (p.name.split("_")[0] if "_" in p.name else "all")
                    == group)
        print(f"analysis, one process, {count} files ({group}; ms of CPU per file):")
        for name, seconds in stages.items():
            print(f"  {name:42} {1000 * seconds / count:6.1f}")
        print(f"  {'all':42} {1000 * sum(stages.values()) / count:6.1f}")
    spent, wall, own, workers = add_stages(folder)
    print(f"prov add in this process: {wall:.2f} s wall; main process {own:.2f} s CPU"
          f" (its imports done), workers {workers:.2f} s CPU")
    print(f"main process's stages (ms per file; load {os.getloadavg()[0]:.1f}):")
    for name, (w, c, calls) in spent.items():
        print(f"  {name:42} {1000 * c / n:6.1f} CPU {1000 * w / n:6.1f} wall  ({calls} calls)")
    sys.stdout.flush()
