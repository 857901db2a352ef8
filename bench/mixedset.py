"""The issue's mixed set for bench/ingest.py --mixed: camera JPEGs, phone HEICs and JPEGs,
PNG screenshots, at the sizes real ones have, made once and kept in a folder.

A quarter each (117 of each for the issue's 468 files):
- camera JPEGs of 12, 18 and 24 MP (4000x3000, 5184x3456, 6000x4000), quality 92, each
  carrying the EXIF of a real camera (Make, Model, dates, maker notes) read from
  `--exif-from` (the shared corpus of camera JPEGs, when there), else written by Pillow;
- phone HEICs of 12 MP (4032x3024, every other one portrait), Apple EXIF, quality 70;
- phone JPEGs of 12 MP (4000x3000 and portrait), Samsung EXIF, quality 88;
- PNG screenshots of 1-4 MP (phone portrait 1170x2532, 1080x2400, 1284x2778; desktop
  1920x1080, 2560x1440, 1280x800): a photo between an app's chrome.
The pictures are generated scenes (fixtures.images.photo) scaled up with sensor-like noise.

HEIC is written by pillow-heif's x265 (libheif). At its defaults (preset medium) a 12-MP
picture took 42 s here; with x265's fastest settings, HEIC_PARAMS below, 2-5 s. They change
how hard the encoder searches, not what a decoder does: the file is an ordinary HEVC-coded
HEIF (4:2:0, 8 bits, one grid-less image) that libde265 decodes at the usual cost.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

KINDS = ("camera", "heic", "phone", "screenshot")
CAMERA_SIZES = ((4000, 3000), (5184, 3456), (6000, 4000))
PHONE_SIZE = (4032, 3024)
SCREEN_SIZES = ((1170, 2532), (1920, 1080), (1080, 2400), (2560, 1440), (1284, 2778),
                (1280, 800))
# libheif's x265 plugin: its own "preset", "tu-intra-depth" and "complexity" parameters, and
# "x265:NAME" passed to x265 as --NAME. Measured on one 12-MP picture at load ~4.7: the
# defaults 42 s; preset ultrafast 6.2 s; + tu-intra-depth 1, complexity 0: 3.7-5.2 s; + no
# SAO, no RDOQ, no psy-rd: 2.4 s (files of the same size).
HEIC_PARAMS = {"preset": "ultrafast", "tu-intra-depth": "1", "complexity": "0",
               "x265:sao": "0", "x265:rdoq-level": "0", "x265:psy-rd": "0"}


def names(count: int) -> list[tuple[str, int, str]]:
    """(file name, index within its kind, kind) of every file of a set of `count`."""
    per = max(1, count // len(KINDS))
    ext = {"camera": "jpg", "heic": "heic", "phone": "jpg", "screenshot": "png"}
    return [(f"{kind}_{i:04}.{ext[kind]}", i, kind) for kind in KINDS for i in range(per)]


def build(folder: Path, count: int, exif_from: Path | None, workers: int = 2) -> None:
    """Make the files of the set not already in `folder` (each written whole, then renamed)."""
    folder.mkdir(parents=True, exist_ok=True)
    todo = [(folder, name, i, kind, str(exif_from) if exif_from else None)
            for name, i, kind in names(count) if not (folder / name).exists()]
    if not todo:
        return
    print(f"making {len(todo)} files in {folder} (HEIC: x265 {HEIC_PARAMS})", flush=True)
    if workers > 1:
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(workers) as pool:
            list(pool.map(_make, *zip(*todo, strict=True)))
    else:
        for job in todo:
            _make(*job)


def _make(folder: Path, name: str, i: int, kind: str, exif_from: str | None) -> None:
    import pillow_heif

    from fixtures import images

    pillow_heif.register_heif_opener()
    seed = {"camera": 40_000, "heic": 50_000, "phone": 60_000, "screenshot": 70_000}[kind] + i
    out = io.BytesIO()
    if kind == "screenshot":
        size = SCREEN_SIZES[i % len(SCREEN_SIZES)]
        _screen(images.photo(seed, (800, 600)), size).save(out, "PNG")
    elif kind == "camera":
        size = CAMERA_SIZES[i % len(CAMERA_SIZES)]
        exif = _camera_exif(i, exif_from)
        _scaled(images.photo(seed, (800, 600)), size, 6, seed).save(
            out, "JPEG", quality=92, exif=exif)
    else:
        size = PHONE_SIZE if i % 2 == 0 else PHONE_SIZE[::-1]
        base = images.photo(seed, (800, 600) if i % 2 == 0 else (600, 800))
        phone = kind == "phone"
        exif = _exif("samsung" if phone else "Apple", "SM-S911B" if phone else "iPhone 14",
                     f"2024:0{1 + i % 9}:1{i % 10} 1{i % 10}:2{i % 6}:00")
        pixels = _scaled(base, size, 4 if phone else 2, seed)  # phones denoise, HEIC more
        if phone:
            pixels.save(out, "JPEG", quality=88, exif=exif)
        else:
            pixels.save(out, "HEIF", quality=70, exif=exif, enc_params=HEIC_PARAMS)
    tmp = folder / f".{name}.part"
    tmp.write_bytes(out.getvalue())
    os.replace(tmp, folder / name)


def _scaled(img: Image.Image, size: tuple[int, int], noise: int, seed: int) -> Image.Image:
    big = np.asarray(img.resize(size, Image.Resampling.BICUBIC), np.int16)
    rng = np.random.default_rng(seed)
    big += rng.integers(-noise, noise + 1, big.shape, dtype=np.int16)
    return Image.fromarray(np.clip(big, 0, 255).astype(np.uint8), "RGB")


def _exif(make: str, model: str, taken: str) -> bytes:
    exif = Image.Exif()
    exif[0x010F], exif[0x0110], exif[0x0132] = make, model, taken
    sub = exif.get_ifd(0x8769)
    sub[0x9003] = sub[0x9004] = taken
    return exif.tobytes()


def _camera_exif(i: int, exif_from: str | None) -> bytes:
    """A real camera's EXIF block (the i-th, in turn, of those with a Make), else Pillow's."""
    sources = []
    if exif_from and Path(exif_from).is_dir():
        for path in sorted(Path(exif_from).glob("*.jpg")):
            try:
                with Image.open(path) as img:
                    exif = img.getexif()
                    if exif.get(0x010F):
                        sources.append(exif.tobytes())
            except (OSError, ValueError, SyntaxError):
                continue
    if sources:
        return sources[i % len(sources)]
    return _exif("Canon", "Canon EOS R6", f"2024:10:1{i % 10} 09:3{i % 6}:00")


def _screen(photo: Image.Image, size: tuple[int, int]) -> Image.Image:
    """A screen of `size`: dark app chrome (status bar, title, buttons) round the photo."""
    from fixtures import images

    w, h = size
    if h > w:  # a phone: the gallery app's screen, drawn at its own size
        return images.screenshot(photo).resize(size, Image.Resampling.BILINEAR)
    screen = Image.new("RGB", size, (32, 33, 36))
    draw = ImageDraw.Draw(screen)
    draw.rectangle((0, 0, w, h // 20), fill=(60, 64, 67))  # title bar
    draw.rectangle((0, h - h // 25, w, h), fill=(45, 45, 48))  # task bar
    fitted = photo.resize((w * 2 // 3, w * 2 // 3 * 3 // 4), Image.Resampling.BILINEAR)
    if fitted.height > h * 4 // 5:
        fitted = photo.resize((h * 4 // 5 * 4 // 3, h * 4 // 5), Image.Resampling.BILINEAR)
    screen.paste(fitted, ((w - fitted.width) // 2, (h - fitted.height) // 2))
    return screen
