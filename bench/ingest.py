"""Ingest throughput: `prov add` on a folder of camera-size JPEGs vs the obvious loop.

The obvious loop computes the same outputs the straightforward way, one file after
another: Image.open and a full decode per hash (imagehash.phash; pdqhash on the
full-size pixels), exifread over the file, hashlib for SHA-256 and MD5. `prov add`
is run end to end (a fresh database, the evidence store, the log, every check).
Both run side by side, alternating, and the medians of wall and CPU time (user + system,
workers included) are compared.

    .venv/bin/python bench/ingest.py [--count 48] [--rounds 3] [--width 4000 --height 3000]
    .venv/bin/python bench/ingest.py --mixed [--count 468] [--rounds 6] [--data FOLDER]
    .venv/bin/python bench/ingest.py --stages [--count 40 --width 3264 --height 2448]

With --mixed: the issue's mixed set (bench/mixedset.py: camera JPEGs, phone HEICs and
JPEGs, PNG screenshots), made once in --data, against a plain `imagehash.phash` loop
(open, decode, pHash; pillow-heif's opener registered) run side by side.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

OBVIOUS = r"""
import hashlib, sys
from pathlib import Path
import exifread, imagehash, numpy, pdqhash
from PIL import Image

for path in sorted(Path(sys.argv[1]).iterdir()):
    data = path.read_bytes()
    hashlib.sha256(data).hexdigest(); hashlib.md5(data).hexdigest()
    with open(path, "rb") as fh:
        exifread.process_file(fh, details=False)
    with Image.open(path) as img:
        str(imagehash.phash(img))
    with Image.open(path) as img:
        pdqhash.compute(numpy.asarray(img.convert("RGB")))
"""


def make_photos(folder: Path, count: int, size: tuple[int, int]) -> None:
    """Camera-size JPEGs with EXIF: a generated scene upscaled, with sensor-like noise."""
    import io

    import numpy as np
    from PIL import Image

    from fixtures import media

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(count):
        target = folder / f"IMG_{i:04}.jpg"
        if target.exists():
            continue
        small = Image.open(io.BytesIO(media.jpeg_with_exif(10_000 + i, size=(800, 600))))
        exif = small.getexif()
        big = np.asarray(small.resize(size, Image.Resampling.BICUBIC), np.int16)
        big = big + rng.integers(-6, 7, big.shape, dtype=np.int16)
        out = Image.fromarray(np.clip(big, 0, 255).astype(np.uint8), "RGB")
        out.save(target, "JPEG", quality=92, exif=exif.tobytes())


IMAGEHASH_LOOP = r"""
import sys
from pathlib import Path
import imagehash
from PIL import Image
from pillow_heif import register_heif_opener

register_heif_opener()  # as a user of imagehash reads phone HEICs
for path in sorted(Path(sys.argv[1]).iterdir()):
    with Image.open(path) as img:
        str(imagehash.phash(img))
"""


def mixed(args: argparse.Namespace) -> None:
    """The issue's mixed set (bench/mixedset.py) against the plain imagehash.phash loop."""
    import mixedset  # beside this script

    count = args.count or 468
    folder = Path(args.data) if args.data else ROOT / "bench" / "out" / f"mixed-{count}"
    mixedset.build(folder, count, Path(args.exif_from) if args.exif_from else None)
    if args.stages:
        import ingest_stages  # beside this script

        ingest_stages.report(folder)
        return
    files = len(mixedset.names(count))
    listing = sorted(n for n, _, _ in mixedset.names(count))
    present = sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))
    if present != listing:
        raise SystemExit(f"{folder} holds other files than the set of {count}: use another --data")
    prov = str(Path(sys.executable).with_name("prov"))
    loop: list[tuple[float, float]] = []
    ours: list[tuple[float, float]] = []
    loads = [os.getloadavg()[0]]
    for r in range(args.rounds):
        # Alternating, and each one first in turn: neither always runs on a warmer cache.
        runs = [("loop", [sys.executable, "-c", IMAGEHASH_LOOP, str(folder)]), ("prov", None)]
        for name, cmd in runs if r % 2 == 0 else runs[::-1]:
            if name == "loop":
                loop.append(timed(cmd))
            else:
                ours.append(prov_add(prov, folder))
            print(f"round {r + 1} {name}: {(loop if name == 'loop' else ours)[-1][0]:.2f} s",
                  flush=True)
        loads.append(os.getloadavg()[0])
    b, o = _medians(loop), _medians(ours)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
          f"{platform.python_version()}; load average {min(loads):.1f}-{max(loads):.1f}")
    print(f"mixed set: {files} files in {folder} ({', '.join(mixedset.KINDS)}),"
          f" {args.rounds} rounds alternating, medians")
    print(f"imagehash.phash loop: {b[0]:7.2f} s wall {b[1]:7.2f} s CPU "
          f" {files / b[0]:6.1f} files/s")
    print(f"prov add            : {o[0]:7.2f} s wall {o[1]:7.2f} s CPU "
          f" {files / o[0]:6.1f} files/s")
    print(f"prov add / loop     : {b[0] / o[0]:7.2f}x wall, {b[1] / o[1]:.2f}x CPU (goal >= 0.65x)")
    print("rounds (wall s): loop", [round(x[0], 2) for x in loop],
          "prov", [round(x[0], 2) for x in ours])


def _medians(runs: list[tuple[float, float]]) -> tuple[float, float]:
    return statistics.median(w for w, _ in runs), statistics.median(c for _, c in runs)


def prov_add(prov: str, folder: Path) -> tuple[float, float]:
    """`prov add` of the folder into a fresh database: (wall, CPU of it and its workers)."""
    work = Path(tempfile.mkdtemp(prefix="prov-bench-"))
    try:
        db = work / "evidence.db"
        subprocess.run([prov, "--db", str(db), "init"], check=True, stdout=subprocess.DEVNULL)
        return timed([prov, "--db", str(db), "add", str(folder)])
    finally:
        shutil.rmtree(work, ignore_errors=True)


def timed(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, float]:
    """(wall seconds, user + system CPU seconds of the command and all it waited for)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=None,
                        help="files (default 48; with --mixed, the issue's 468)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--width", type=int, default=4000)
    parser.add_argument("--height", type=int, default=3000)
    parser.add_argument("--mixed", action="store_true",
                        help="the mixed set against a plain imagehash.phash loop instead")
    parser.add_argument("--data", help="with --mixed: the folder the set is made in once and"
                        " kept (default bench/out/mixed-COUNT)")
    parser.add_argument("--stages", action="store_true",
                        help="where prov add's CPU goes, per file (bench/ingest_stages.py)")
    parser.add_argument("--exif-from", default="/work/shared/corpus/camera",
                        help="with --mixed: camera JPEGs whose EXIF the camera files carry")
    args = parser.parse_args()
    if args.mixed:
        mixed(args)
        return

    count = args.count or 48
    folder = ROOT / "bench" / "out" / f"jpegs-{args.width}x{args.height}-{count}"
    make_photos(folder, count, (args.width, args.height))
    if args.stages:
        import ingest_stages  # beside this script

        ingest_stages.report(folder)
        return
    prov = str(Path(sys.executable).with_name("prov"))
    baseline: list[tuple[float, float]] = []
    ours: list[tuple[float, float]] = []
    loads = [os.getloadavg()[0]]
    for r in range(args.rounds):
        runs = [("loop", [sys.executable, "-c", OBVIOUS, str(folder)]), ("prov", None)]
        for name, cmd in runs if r % 2 == 0 else runs[::-1]:
            if name == "loop":
                baseline.append(timed(cmd))
            else:
                ours.append(prov_add(prov, folder))
        loads.append(os.getloadavg()[0])
    b, o = _medians(baseline), _medians(ours)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
          f"{platform.python_version()}; load average {min(loads):.1f}-{max(loads):.1f}")
    print(f"{count} JPEGs of {args.width}x{args.height}, {args.rounds} rounds alternating,"
          " medians")
    print(f"obvious loop : {b[0]:7.2f} s wall {b[1]:7.2f} s CPU  {count / b[0]:6.1f} files/s")
    print(f"prov add     : {o[0]:7.2f} s wall {o[1]:7.2f} s CPU  {count / o[0]:6.1f} files/s")
    print(f"speed-up     : {b[0] / o[0]:7.1f}x wall, {b[1] / o[1]:.1f}x CPU")
    print("rounds (wall s): loop", [round(x[0], 2) for x in baseline],
          "prov", [round(x[0], 2) for x in ours])


if __name__ == "__main__":
    main()
