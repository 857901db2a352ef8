"""Recall per re-upload transformation and false matches across distinct photos, as a table."""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from fixtures import images as F  # noqa: E402
from provenance import hashing as H  # noqa: E402
from provenance import localmatch as L  # noqa: E402

CORPUS = ROOT.parent / "shared" / "corpus" / "camera"
SKIMAGE = ["astronaut", "coffee", "chelsea", "camera", "rocket", "hubble_deep_field", "retina",
           "immunohistochemistry", "coins", "brick", "grass", "gravel", "moon", "page", "horse",
           "clock", "text", "cell", "microaneurysms", "colorwheel", "logo", "motorcycle"]
CANDIDATES = 8  # nearest gallery items (by PDQ, then by pHash) the crop stage verifies


def bases(generated: int) -> list[tuple[str, Image.Image]]:
    out: list[tuple[str, Image.Image]] = []
    try:
        import skimage.data as sd
    except ImportError:
        sd = None
    for name in SKIMAGE if sd else []:
        try:
            arr = getattr(sd, name)()
        except Exception:  # noqa: BLE001 - some need a download; skip those offline
            continue
        if isinstance(arr, tuple):
            arr = arr[0]
        out.append((f"skimage:{name}", Image.fromarray(np.asarray(arr)).convert("RGB")))
    for path in sorted(CORPUS.glob("*.jpg")) if CORPUS.is_dir() else []:
        if "photoshop_import" in path.name:  # the same shot as Canon_40D.jpg: not distinct
            continue
        out.append((f"camera:{path.stem}", Image.open(path).convert("RGB")))
    out += [(f"generated:{s}", F.photo(s, (640 + 16 * (s % 5), 480))) for s in range(generated)]
    return out


def rows() -> list[tuple[str, Callable[[Image.Image, int], Image.Image]]]:
    def side(i: int) -> float:
        return (0.0, 1.0, 0.25, 0.75)[i % 4]

    r: list[tuple[str, Callable[[Image.Image, int], Image.Image]]] = []
    r += [(f"JPEG q{q}", lambda im, i, q=q: F.jpeg(im, q)) for q in (30, 50, 70, 95)]
    r += [(f"resize {f}x", lambda im, i, f=f: F.resize(im, f)) for f in (0.25, 0.5, 2.0)]
    for frac in (0.05, 0.10, 0.20):
        r.append((f"crop {frac:.0%} centred", lambda im, i, f=frac: F.crop(im, f, 0.5)))
        r.append((f"crop {frac:.0%} off-centre", lambda im, i, f=frac: F.crop(im, f, side(i))))
    colours = [(0, 0, 0), (255, 255, 255), (40, 90, 200)]
    for frac in (0.10, 0.30):
        r.append((f"pad {frac:.0%} (black/white/blue)",
                  lambda im, i, f=frac: F.pad(im, f, colours[i % 3])))
        r.append((f"letterbox {frac:.0%}",
                  lambda im, i, f=frac: F.letterbox(im, f, colours[i % 2])))
    r += [("text watermark", lambda im, i: F.text_watermark(im)),
          ("logo watermark", lambda im, i: F.logo_watermark(im)),
          ("mirror", lambda im, i: F.mirror(im)),
          ("rotate 90", lambda im, i: F.rotate(im, 90)),
          ("rotate 180", lambda im, i: F.rotate(im, 180)),
          ("grayscale", lambda im, i: F.grayscale(im))]
    for f in (0.7, 1.3):
        r.append((f"brightness {f - 1:+.0%}", lambda im, i, f=f: F.brightness(im, f)))
        r.append((f"contrast {f - 1:+.0%}", lambda im, i, f=f: F.contrast(im, f)))
    r += [("phone screenshot (dark/light)", lambda im, i: F.screenshot(im, dark=i % 2 == 0)),
          ("screenshot + JPEG q50", lambda im, i: F.jpeg(F.screenshot(im), 50)),
          ("crop 10% + text + JPEG q60",
           lambda im, i: F.jpeg(F.text_watermark(F.crop(im, 0.1, side(i))), 60)),
          ("mirror + pad 20% + resize 0.5x",
           lambda im, i: F.resize(F.pad(F.mirror(im), 0.2, colours[i % 3]), 0.5)),
          ("grayscale + letterbox 20% + JPEG q40",
           lambda im, i: F.jpeg(F.letterbox(F.grayscale(im), 0.2), 40)),
          ("logo + brightness +20% + resize 0.5x",
           lambda im, i: F.resize(F.brightness(F.logo_watermark(im), 1.2), 0.5))]
    return r


class Gallery:
    def __init__(self, images: list[Image.Image]) -> None:
        self.hashes, self.features = [], []
        for im in images:
            hashed = H.hash_image(H.load_image(F.encode(im, "PNG")))
            self.hashes.append(hashed)
            self.features.append(None)
        self.images = images
        self.pdq = np.array([np.frombuffer(h.get("pdq").value, np.uint8) for h in self.hashes])
        self.phash = np.array([np.frombuffer(h.get("phash").value, np.uint8) for h in self.hashes])
        self.quality = np.array([h.get("pdq").quality for h in self.hashes])

    def local(self, k: int) -> L.LocalFeatures:
        if self.features[k] is None:
            img = H.load_image(F.encode(self.images[k], "PNG"))
            self.features[k] = L.local_features(img.crop(self.hashes[k].trimmed))
        return self.features[k]


def judge(gallery: Gallery, query: Image.Image
          ) -> tuple[np.ndarray, list[str | None], list[str | None]]:
    """Verdict for every gallery item: hash stage alone, and with the crop stage."""
    img = H.load_image(F.encode(query, "JPEG", quality=92))
    hashed = H.hash_image(img)
    trimmed = img.crop(hashed.trimmed)
    variants = np.array([np.frombuffer(v.value, np.uint8) for v in H.query_variants(trimmed)])
    pdq = np.unpackbits(gallery.pdq[:, None, :] ^ variants[None], axis=2).sum(axis=2).min(axis=1)
    ph_q = np.frombuffer(hashed.get("phash").value, np.uint8)
    ph = np.unpackbits(gallery.phash ^ ph_q, axis=1).sum(axis=1)
    quality = np.minimum(gallery.quality, hashed.get("pdq").quality)
    hash_stage = [H.verdict(int(d), pdq_quality=int(q), phash_distance=int(p))
                  for d, q, p in zip(pdq, quality, ph, strict=True)]
    full = list(hash_stage)
    candidates = set(np.argsort(pdq, kind="stable")[:CANDIDATES].tolist())
    candidates |= set(np.argsort(ph, kind="stable")[:CANDIDATES].tolist())
    query_features = L.local_features(trimmed)
    for k in candidates:
        if full[k] == "re-upload":
            continue
        inliers = L.verify(query_features, gallery.local(k))
        full[k] = H.verdict(int(pdq[k]), pdq_quality=int(quality[k]), phash_distance=int(ph[k]),
                            local_inliers=inliers)
    return pdq, hash_stage, full


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--generated", type=int, default=40, help="generated photos to add")
    parser.add_argument("--only", help="run only rows whose name contains this")
    args = parser.parse_args()
    named = bases(args.generated)
    gallery = Gallery([im for _, im in named])
    n = len(named)
    counts = {src: sum(k.startswith(src) for k, _ in named) for src in ("skim", "cam", "gen")}
    print(f"{n} distinct base photos ({counts['skim']} scikit-image, {counts['cam']} camera "
          f"corpus, {counts['gen']} generated); {os.cpu_count()} cores\n")
    print("| transformation | PDQ <= 31 | hash stage | + crop stage | similar | false matches |")
    print("|---|---|---|---|---|---|")
    total_false = total_pairs = 0
    start = time.perf_counter()
    worst: list[str] = []
    for name, transform in rows():
        if args.only and args.only not in name:
            continue
        pdq_hits = hash_hits = full_hits = similar = false = 0
        for i, (_, base) in enumerate(named):
            pdq, hash_stage, full = judge(gallery, transform(base, i))
            hash_hits += hash_stage[i] == "re-upload"
            full_hits += full[i] == "re-upload"
            similar += full[i] == "similar"
            pdq_hits += int(pdq[i]) <= H.PDQ_MATCH
            false += sum(v == "re-upload" for k, v in enumerate(full) if k != i)
            if full[i] != "re-upload":
                worst.append(f"{name}: {named[i][0]} -> {full[i]}")
        total_false += false
        total_pairs += n * (n - 1)
        print(f"| {name} | {pdq_hits / n:.3f} | {hash_hits / n:.3f} | {full_hits / n:.3f} "
              f"| {similar / n:.3f} | {false}/{n * (n - 1)} |")
    print(f"\nfalse matches overall: {total_false}/{total_pairs} "
          f"({total_false / max(total_pairs, 1):.4%}); {time.perf_counter() - start:.0f} s")
    print("\nmissed:\n" + "\n".join(worst[:60]))


if __name__ == "__main__":
    main()
