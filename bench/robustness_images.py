"""Recall per re-upload transformation and false matches, through the real match rule.

Every gallery image is stored the way ingest stores it (PNG bytes -> `load_image` ->
`hash_pixels`: its rows and keypoints); every transformed copy is re-encoded as JPEG q92
and goes through `hash_pixels` and then exactly `matchrule.find` against a `StoredSet`
of the whole gallery (bases plus distractors), with ORB features, once with
`prov add`'s crop candidates and once with `prov match`'s.

    .venv/bin/python bench/robustness_images.py [--generated 24] [--distractors 1000]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import pickle
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from fixtures import images as F  # noqa: E402
from provenance.ingest.extract import hash_pixels  # noqa: E402
from provenance.ingest.register import ADD_CROP_CANDIDATES  # noqa: E402
from provenance.matching import hashing as H  # noqa: E402
from provenance.matching import kpindex, localmatch, matchrule  # noqa: E402  # noqa: E402
from provenance.matching.localmatch import LOCAL_MATCH_INLIERS, LocalFeatures  # noqa: E402

CORPUS = ROOT.parent / "shared" / "corpus" / "camera"
SKIMAGE = ["astronaut", "coffee", "chelsea", "camera", "rocket", "hubble_deep_field", "retina",
           "immunohistochemistry", "coins", "brick", "grass", "gravel", "moon", "page", "horse",
           "clock", "text", "cell", "microaneurysms", "colorwheel", "logo", "motorcycle"]
Transform = Callable[[Image.Image, int], Image.Image]


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


def distractor(k: int, count: int) -> Image.Image:
    """Distinct images no query comes from: generated scenes of varied size and shape, and
    (a tenth) scikit-image's LFW faces and non-faces, upscaled: a different image family."""
    if k < count // 10:
        import skimage.data as sd

        arr = sd.lfw_subset()[k % 200]
        img = Image.fromarray((np.asarray(arr) * 255).astype(np.uint8)).convert("RGB")
        return img.resize((200, 200), Image.Resampling.BICUBIC)
    shapes = [(640, 480), (480, 640), (800, 450), (500, 500), (320, 240), (1024, 576)]
    return F.photo(100_000 + k, shapes[k % len(shapes)])


def rows() -> list[tuple[str, Transform]]:
    def side(i: int) -> float:
        return (0.0, 1.0, 0.25, 0.75)[i % 4]

    r: list[tuple[str, Transform]] = []
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


@dataclass
class Analysed:
    """One image as ingest sees it: what it stores, what it searches with, its keypoints."""

    rows: list[dict[str, Any]]
    query: list[H.PerceptualHash]
    features: LocalFeatures | None
    quality: int
    seconds: float


def analyse(data: bytes) -> Analysed:
    start = time.perf_counter()
    stored, query_only, keypoints = hash_pixels(H.load_image(data))
    seconds = time.perf_counter() - start
    # The same conversions `search.find_for` applies to what ingest recorded.
    query = H.from_rows(stored) + H.from_rows(query_only)
    full = next(r for r in stored if r["algorithm"] == "pdq" and r["region"] == "full")
    features = LocalFeatures.unpack(keypoints) if keypoints else None
    return Analysed(stored, query, features, int(full["quality"]), seconds)


def _png(im: Image.Image) -> bytes:
    return F.encode(im, "PNG", compress_level=1)  # lossless either way; level 6 costs 100 ms


class Gallery:
    def __init__(self, items: list[Analysed]) -> None:
        self.items = items
        self.stored = matchrule.StoredSet.from_rows([
            (key, h, r["frame_seconds"], r["page"])
            for key, item in enumerate(self.items)
            for r, h in zip(item.rows, H.from_rows(item.rows), strict=True)])
        self.loaded = -1  # the key whose features the crop stage asked for last
        # What catalogue.Catalogue builds from the stored keypoint caches.
        self.keypoints = kpindex.build({k: item.features for k, item in enumerate(self.items)
                                        if item.features is not None})

    def features(self, key: int) -> LocalFeatures | None:
        self.loaded = key  # the crop stage verifies what it loaded last: see _verify_recorded
        return self.items[key].features


def verdicts(gallery: Gallery, q: Analysed, crop_candidates: int | None
             ) -> dict[int, str]:
    """Gallery key -> verdict, through matchrule.find; None: no crop stage at all."""
    if crop_candidates is None:
        found = matchrule.find(q.query, gallery.stored)
    else:
        found = matchrule.find(q.query, gallery.stored, query_features=q.features,
                               load_features=gallery.features, crop_candidates=crop_candidates,
                               keypoint_index=gallery.keypoints)
    return {m.key: m.verdict for m in found}


# Shared with forked workers: set before the pool starts.
_NAMED: list[tuple[str, Image.Image]] = []
_GALLERY: Gallery | None = None
_ROWS: list[tuple[str, Transform]] = []


def _analyse_stored(job: tuple[int, int]) -> Analysed:
    k, count = job
    im = _NAMED[k][1] if k < len(_NAMED) else distractor(k - len(_NAMED), count)
    return analyse(_png(im))


_VERIFIED: dict[int, int] = {}  # gallery key -> inliers, for the query being run
_check = localmatch.check


def _verify_recorded(query: LocalFeatures, stored: LocalFeatures) -> localmatch.Verification:
    """localmatch.check, recording its inliers per gallery key (the margin below threshold)."""
    assert _GALLERY is not None
    found = _check(query, stored)
    key = _GALLERY.loaded
    _VERIFIED[key] = max(found.inliers, _VERIFIED.get(key, 0))
    return found


def _query(job: tuple[int, int]) -> dict[str, Any]:
    """One transformed copy through hash_pixels and find, at both widths and hash-only."""
    r, i = job
    assert _GALLERY is not None
    q = analyse(F.encode(_ROWS[r][1](_NAMED[i][1], i), "JPEG", quality=92))
    _VERIFIED.clear()
    add = verdicts(_GALLERY, q, ADD_CROP_CANDIDATES)
    wide = verdicts(_GALLERY, q, matchrule.CROP_CANDIDATES)
    strangers = [v for k, v in _VERIFIED.items() if k != i]
    return {"row": r, "i": i, "seconds": q.seconds, "add": add.get(i), "match": wide.get(i),
            "stranger_inliers": max(strangers, default=0), "strangers": len(strangers),
            "hash": verdicts(_GALLERY, q, None).get(i),
            # Every other gallery item called a re-upload is a false match, at either width.
            "false": sorted(k for k, v in (add | wide).items() if k != i and v == "re-upload")}


def _cache_path(generated: int, count: int) -> Path:
    digest = hashlib.sha256(f"{generated} {count}".encode())
    for name in ("provenance/matching/hashing.py", "provenance/matching/localmatch.py",
                 "provenance/matching/bandkeys.py",
                 "provenance/ingest/extract.py", "fixtures/images.py",
                 "bench/robustness_images.py"):
        digest.update((ROOT / name).read_bytes())
    return ROOT / "bench" / "out" / f"robustness-gallery-{digest.hexdigest()[:16]}.pickle"


def timing(rounds: int) -> None:
    """ms per 4032x3024 JPEG: the decode ingest does, then hash_pixels (hashes + keypoints)."""
    import statistics

    rng = np.random.default_rng(0)
    scene = np.asarray(F.photo(7, (1008, 756)).resize((4032, 3024), Image.Resampling.BICUBIC))
    noisy = np.clip(scene + rng.normal(0, 3, scene.shape), 0, 255).astype(np.uint8)
    data = F.encode(Image.fromarray(noisy), "JPEG", quality=90)
    decode, hashes = [], []
    for _ in range(rounds):
        t0 = time.perf_counter()
        img = H.load_image(data)
        t1 = time.perf_counter()
        hash_pixels(img)
        t2 = time.perf_counter()
        decode.append(t1 - t0)
        hashes.append(t2 - t1)
    d, h = statistics.median(decode) * 1000, statistics.median(hashes) * 1000
    print(f"4032x3024 JPEG ({len(data) // 1024} KB), median of {rounds}: decode {d:.1f} ms + "
          f"hash_pixels {h:.1f} ms = {d + h:.1f} ms; load {os.getloadavg()[0]:.1f}")


def main() -> None:
    global _NAMED, _GALLERY, _ROWS
    import multiprocessing

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--generated", type=int, default=24, help="generated base photos")
    parser.add_argument("--distractors", type=int, default=1000,
                        help="extra distinct gallery images no query comes from")
    parser.add_argument("--only", help="run only rows whose name contains this")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--timing", type=int, metavar="ROUNDS",
                        help="only time one 4032x3024 JPEG through decode and hash_pixels")
    args = parser.parse_args()
    if args.timing:
        timing(args.timing)
        return
    start = time.perf_counter()
    _NAMED = bases(args.generated)
    _ROWS = [r for r in rows() if not args.only or args.only in r[0]]
    n, size = len(_NAMED), len(_NAMED) + args.distractors
    ctx = multiprocessing.get_context("fork")
    # The gallery depends only on the code that hashes it and on the image counts: reuse it.
    cache = _cache_path(args.generated, args.distractors)
    if cache.exists():
        items = pickle.loads(cache.read_bytes())
    else:
        with ctx.Pool(args.jobs) as pool:
            items = pool.map(_analyse_stored, [(k, args.distractors) for k in range(size)],
                             chunksize=16)
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_bytes(pickle.dumps(items))
    _GALLERY = gallery = Gallery(items)
    build = time.perf_counter() - start
    low = [i for i in range(n) if gallery.items[i].quality < H.PDQ_MIN_QUALITY]
    scored = [i for i in range(n) if i not in low]
    counts = {src: sum(k.startswith(src) for k, _ in _NAMED) for src in ("skim", "cam", "gen")}
    k_add, k_match = ADD_CROP_CANDIDATES, matchrule.CROP_CANDIDATES
    print(f"{n} distinct base photos ({counts['skim']} scikit-image, {counts['cam']} camera "
          f"corpus, {counts['gen']} generated) + {args.distractors} distractors = gallery of "
          f"{size} ({len(gallery.stored)} PDQ rows, {len(gallery.stored.keys['phash'])} pHash "
          f"rows); built in {build:.0f} s; {os.cpu_count()} cores, {args.jobs} jobs, "
          f"load {os.getloadavg()[0]:.1f}")
    print(f"recall over the {len(scored)} bases with PDQ quality >= {H.PDQ_MIN_QUALITY}; "
          f"left out: {', '.join(_NAMED[i][0] for i in low) or 'none'}\n")
    print(f"| transformation | hash only | add (K={k_add}) | match (K={k_match}) | similar "
          f"(K={k_add}) | false matches (either K) |")
    print("|---|---|---|---|---|---|")
    jobs = [(r, i) for r in range(len(_ROWS)) for i in range(n)]
    localmatch.check = _verify_recorded  # what find() calls
    with ctx.Pool(args.jobs) as pool:
        results = pool.map(_query, jobs, chunksize=4)
    false_total = pairs_total = low_linked = low_copies = 0
    missed: list[str] = []
    false_pairs: list[str] = []
    for r, (name, _) in enumerate(_ROWS):
        mine = [x for x in results if x["row"] == r]
        m = len(scored)
        hits = {c: sum(x[c] == "re-upload" for x in mine if x["i"] in scored)
                for c in ("hash", "add", "match")}
        similar = sum(x["add"] == "similar" for x in mine if x["i"] in scored)
        false = sum(len(x["false"]) for x in mine)
        for x in mine:
            false_pairs += [f"{name}: {_NAMED[x['i']][0]} -> gallery {k}" for k in x["false"]]
            if x["i"] in low:
                low_copies += 1
                low_linked += x["match"] == "re-upload"
            elif x["add"] != "re-upload":
                missed.append(f"{name}: {_NAMED[x['i']][0]} -> add {x['add']}, "
                              f"match {x['match']}")
        pairs = n * (size - 1)
        false_total += false
        pairs_total += pairs
        print(f"| {name} | {hits['hash'] / m:.3f} | {hits['add'] / m:.3f} "
              f"| {hits['match'] / m:.3f} | {similar / m:.3f} | {false}/{pairs:,} |")
    seconds = [x["seconds"] for x in results]
    print(f"\nfalse matches overall: {false_total}/{pairs_total:,} "
          f"({false_total / max(pairs_total, 1):.4%})")
    print(f"low-quality bases ({len(low)}): {low_linked}/{low_copies} copies auto-linked")
    print(f"keypoint verification of distinct pictures: {sum(x['strangers'] for x in results):,}"
          f" pairs, at most {max(x['stranger_inliers'] for x in results)} inliers (re-upload "
          f"from {LOCAL_MATCH_INLIERS})")
    print(f"hash_pixels per query copy: median {np.median(seconds) * 1000:.1f} ms "
          f"(decode excluded); {time.perf_counter() - start:.0f} s in all, "
          f"load {os.getloadavg()[0]:.1f}")
    print("\nfalse matches:\n" + "\n".join(false_pairs[:40]))
    print("\nmissed (add):\n" + "\n".join(missed))


if __name__ == "__main__":
    main()
