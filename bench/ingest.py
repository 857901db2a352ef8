"""Ingest throughput: `prov add` on a folder of camera-size JPEGs vs the obvious loop.

The obvious loop computes the same outputs the straightforward way, one file after
another: Image.open and a full decode per hash (imagehash.phash; pdqhash on the
full-size pixels), exifread over the file, hashlib for SHA-256 and MD5. `prov add`
is run end to end (a fresh database, the evidence store, the log, every check).
Both run side by side, alternating, and the medians are compared.

    .venv/bin/python bench/ingest.py [--count 48] [--rounds 3]
    .venv/bin/python bench/ingest.py --mixed [--count 48] [--rounds 3]

With --mixed: camera JPEGs, phone-like JPEGs and PNG screenshots, against a plain
`imagehash.phash` loop (open, decode, pHash) run side by side.
"""

from __future__ import annotations

import argparse
import os
import platform
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

for path in sorted(Path(sys.argv[1]).iterdir()):
    with Image.open(path) as img:
        str(imagehash.phash(img))
"""


def make_mixed(folder: Path, count: int) -> None:
    """A third each: 12 MP camera JPEGs with EXIF, phone-like portrait JPEGs (1080x1920,
    quality 85, EXIF), and PNG screenshots (a photo framed by a dark app UI, 1170x2532).
    No HEIC: pillow-heif is not a dependency."""
    import io

    from PIL import Image

    from fixtures import images, media

    folder.mkdir(parents=True, exist_ok=True)
    third = max(1, count // 3)
    make_photos(folder / "camera", third, (4000, 3000))
    for path in (folder / "camera").iterdir():
        target = folder / f"camera_{path.name}"
        if not target.exists():
            path.rename(target)
    (folder / "camera").rmdir()
    for i in range(third):
        phone = folder / f"phone_{i:04}.jpg"
        if not phone.exists():
            raw = media.jpeg_with_exif(20_000 + i, size=(1080, 1920))
            exif = Image.open(io.BytesIO(raw)).getexif()
            Image.open(io.BytesIO(raw)).save(phone, "JPEG", quality=85, exif=exif.tobytes())
        shot = folder / f"screenshot_{i:04}.png"
        if not shot.exists():
            framed = images.screenshot(images.photo(30_000 + i, (1170, 1500)))
            framed.resize((1170, 2532)).save(shot, "PNG")


def mixed(args: argparse.Namespace) -> None:
    folder = ROOT / "bench" / "out" / f"mixed-{args.count}"
    make_mixed(folder, args.count)
    files = len(list(folder.iterdir()))
    prov = str(Path(sys.executable).with_name("prov"))
    loop, ours = [], []
    loads = [os.getloadavg()[0]]
    for _ in range(args.rounds):
        loop.append(timed([sys.executable, "-c", IMAGEHASH_LOOP, str(folder)]))
        work = Path(tempfile.mkdtemp(prefix="prov-bench-"))
        db = work / "evidence.db"
        subprocess.run([prov, "--db", str(db), "init"], check=True, stdout=subprocess.DEVNULL)
        ours.append(timed([prov, "--db", str(db), "add", str(folder)]))
        shutil.rmtree(work, ignore_errors=True)
        loads.append(os.getloadavg()[0])
    b, o = statistics.median(loop), statistics.median(ours)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
          f"{platform.python_version()}; load average {min(loads):.1f}-{max(loads):.1f}")
    print(f"mixed set: {files} files (camera JPEGs, phone JPEGs, PNG screenshots),"
          f" {args.rounds} rounds, medians")
    print(f"imagehash.phash loop: {b:7.2f} s  {files / b:7.1f} files/s")
    print(f"prov add            : {o:7.2f} s  {files / o:7.1f} files/s")
    print(f"prov add / loop     : {b / o:7.2f}x (goal >= 0.65x)")


def timed(cmd: list[str], env: dict[str, str] | None = None) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=48)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--width", type=int, default=4000)
    parser.add_argument("--height", type=int, default=3000)
    parser.add_argument("--mixed", action="store_true",
                        help="the mixed set against a plain imagehash.phash loop instead")
    args = parser.parse_args()
    if args.mixed:
        mixed(args)
        return

    folder = ROOT / "bench" / "out" / f"jpegs-{args.width}x{args.height}-{args.count}"
    make_photos(folder, args.count, (args.width, args.height))
    prov = str(Path(sys.executable).with_name("prov"))
    baseline, ours = [], []
    for _ in range(args.rounds):
        baseline.append(timed([sys.executable, "-c", OBVIOUS, str(folder)]))
        work = Path(tempfile.mkdtemp(prefix="prov-bench-"))
        db = work / "evidence.db"
        subprocess.run([prov, "--db", str(db), "init"], check=True, stdout=subprocess.DEVNULL)
        ours.append(timed([prov, "--db", str(db), "add", str(folder)]))
        shutil.rmtree(work, ignore_errors=True)
    b, o = statistics.median(baseline), statistics.median(ours)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
          f"{platform.python_version()}")
    print(f"{args.count} JPEGs of {args.width}x{args.height}, {args.rounds} rounds, medians")
    print(f"obvious loop : {b:7.2f} s  {args.count / b:7.1f} files/s")
    print(f"prov add     : {o:7.2f} s  {args.count / o:7.1f} files/s")
    print(f"speed-up     : {b / o:7.1f}x")


if __name__ == "__main__":
    main()
