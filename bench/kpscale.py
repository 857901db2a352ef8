"""Crops at scale: crop recall and keypoint-stage time with the index padded to 100,000 pictures.

The crop rows of bench/robustness_images.py (same bases, same 1,000-distractor gallery, same
transforms, through `matchrule.find` at prov add's and prov match's crop candidates) are run
twice: with the gallery's own keypoint index (the 1,000-item figure) and with that index
padded with PAD more pictures' keypoints, kept as prov keeps a database's index: shards on
disk (matching.kpcache's writer), opened memory-mapped.

The padding pictures are synthesized from real ORB keypoints, because registering 100,000
generated pictures takes hours: every distractor picture of the gallery (F.photo scenes of
varied size, LFW faces) gives its keypoints to a pool (~600,000 real descriptors, upright and
mirrored kept apart); each padding picture takes 128 upright and 128 mirrored descriptors
drawn from the pool at random, with their points, and flips ~24 random bits of each (of
256; two views of one point differ by 20-40). So the padding has ORB's own bit statistics
and word frequencies (flat patches, common textures), but no picture repeats a real one; no
query's original gives the pool anything (bases are not in it). Padding pictures that reach
verification get these features too, so their cost is counted.

    .venv/bin/python bench/kpscale.py [--pad 100000] [--out /tmp/kpscale]
"""

from __future__ import annotations

import argparse
import functools
import os
import pickle
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
import robustness_images as R  # noqa: E402

from fixtures import images as F  # noqa: E402
from provenance.ingest.register import ADD_CROP_CANDIDATES  # noqa: E402
from provenance.matching import kpcache, kpindex, matchrule  # noqa: E402
from provenance.matching.localmatch import LocalFeatures  # noqa: E402

CHUNK = 4096  # padding pictures synthesized together (one random stream each)
FLIPS = 24


class Pool:
    """The real keypoints padding pictures are drawn from, upright and mirrored apart."""

    def __init__(self, features: list[LocalFeatures]) -> None:
        points = np.concatenate([f.points for f in features])
        desc = np.concatenate([f.descriptors for f in features])
        upright = points[:, 0] >= 0
        self.parts = [(points[upright], desc[upright]), (points[~upright], desc[~upright])]

    @functools.lru_cache(maxsize=4)  # noqa: B019 - one pool per run
    def chunk(self, c: int) -> list[LocalFeatures]:
        rng = np.random.default_rng(7_000_000 + c)
        per = kpindex.PER_PART
        out_p, out_d = [], []
        for points, desc in self.parts:
            pick = rng.integers(0, len(desc), CHUNK * per)
            d = desc[pick].copy()
            mask = np.zeros((len(d), 256), bool)
            mask[np.repeat(np.arange(len(d)), FLIPS), rng.integers(0, 256, len(d) * FLIPS)] = True
            d ^= np.packbits(mask, axis=1, bitorder="little")
            out_p.append(points[pick].reshape(CHUNK, per, 2))
            out_d.append(d.reshape(CHUNK, per, 32))
        return [LocalFeatures(np.concatenate([out_p[0][j], out_p[1][j]]).astype(np.float32),
                              np.concatenate([out_d[0][j], out_d[1][j]]))
                for j in range(CHUNK)]

    def features(self, j: int) -> LocalFeatures:
        return self.chunk(j // CHUNK)[j % CHUNK]


class Remembered:
    """An index whose votes for one query are computed once: `find` at two widths asks
    the same question, and at 100,000 pictures each answer costs seconds."""

    def __init__(self, index: kpindex.KeypointIndex) -> None:
        self.index = index
        self.seen: dict[bytes, tuple[np.ndarray, np.ndarray]] = {}
        self.seconds = 0.0

    def votes(self, query: LocalFeatures) -> tuple[np.ndarray, np.ndarray]:
        key = query.descriptors.tobytes() + query.points.tobytes()
        if key not in self.seen:
            start = time.perf_counter()
            self.seen[key] = self.index.votes(query)
            self.seconds += time.perf_counter() - start
        return self.seen[key]

    candidates = kpindex.KeypointIndex.candidates


class Padded(R.Gallery):
    """The robustness gallery, its keypoint index padded with `pad` synthetic pictures."""

    def __init__(self, items: list[R.Analysed], pool: Pool, index: kpindex.KeypointIndex
                 ) -> None:
        super().__init__(items)
        self.small = self.keypoints
        self.padded = index
        self.pool = pool

    def features(self, key: int) -> LocalFeatures | None:
        if key < len(self.items):
            return super().features(key)
        self.loaded = key
        return self.pool.features(key - len(self.items))


def build_index(items: list[R.Analysed], pool: Pool, pad: int, folder: Path
                ) -> tuple[kpindex.KeypointIndex, float]:
    """Gallery plus padding, written as kpcache writes shards, reopened memory-mapped."""
    start = time.perf_counter()
    index = kpindex.KeypointIndex()
    index.add((k, item.features) for k, item in enumerate(items))
    for c in range(0, pad, CHUNK):
        chunk = pool.chunk(c // CHUNK)[:min(CHUNK, pad - c)]
        index.add((len(items) + c + j, f) for j, f in enumerate(chunk))
        kpcache._write_shards(folder, index, final=False)
        print(f"  {c + len(chunk):,} padding pictures, {index.size:,} rows,"
              f" {len(index.segments)} segments, {time.perf_counter() - start:.0f} s", flush=True)
    kpcache._write_shards(folder, index, final=True)
    names = [s.folder.name for s in index.segments if s.folder is not None]
    (folder / "order.txt").write_text("\n".join(names))
    for merged in set(p.name for p in (folder / "shards").iterdir()) - set(names):
        shutil.rmtree(folder / "shards" / merged)  # merged into a bigger shard since
    return opened(folder, index.pictures), time.perf_counter() - start


def opened(folder: Path, pictures: set[int] | None = None) -> kpindex.KeypointIndex:
    names = (folder / "order.txt").read_text().split()
    return kpindex.KeypointIndex(
        segments=[kpindex._Segment.open(folder / "shards" / n) for n in names],
        pictures=pictures if pictures is not None else set())


_G: Padded | None = None
_CROPS: list[tuple[str, R.Transform]] = []


def _query(job: tuple[int, int]) -> dict[str, Any]:
    r, i = job
    g = _G
    assert g is not None
    q = R.analyse(F.encode(_CROPS[r][1](R._NAMED[i][1], i), "JPEG", quality=92))
    out: dict[str, Any] = {"row": r, "i": i}
    for name, index in (("small", g.small), ("padded", g.padded)):
        remembered = Remembered(index)
        g.keypoints = remembered  # type: ignore[assignment]
        start = time.perf_counter()
        out[f"{name} add"] = R.verdicts(g, q, ADD_CROP_CANDIDATES).get(i)
        out[f"{name} match"] = R.verdicts(g, q, matchrule.CROP_CANDIDATES).get(i)
        out[f"{name} find s"] = time.perf_counter() - start
        out[f"{name} vote s"] = remembered.seconds / max(len(remembered.seen), 1)
    out["rss"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return out


def probe(folder: Path, queries: Path) -> None:
    """In a fresh process, as `prov match` would: open the shards, vote for a few crops."""
    start = time.perf_counter()
    index = opened(folder)
    opening = time.perf_counter() - start
    times = []
    for f in pickle.loads(queries.read_bytes()):
        t = time.perf_counter()
        index.candidates(f, matchrule.CROP_CANDIDATES, set())
        times.append(time.perf_counter() - t)
    print(f"fresh process: opened {len(index.segments)} shards ({index.size:,} rows) in"
          f" {opening * 1000:.0f} ms; first query {times[0] * 1000:.0f} ms, median of"
          f" {len(times)} {statistics.median(times) * 1000:.0f} ms; peak"
          f" {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


def main() -> None:
    global _G, _CROPS
    import multiprocessing

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pad", type=int, default=100_000)
    parser.add_argument("--generated", type=int, default=24)
    parser.add_argument("--distractors", type=int, default=1000)
    parser.add_argument("--out", type=Path, default=Path("/tmp/kpscale"))
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--only", help="run only crop rows whose name contains this")
    parser.add_argument("--reuse", action="store_true",
                        help="open the padded index left in --out by an earlier run")
    parser.add_argument("--probe", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.probe:
        probe(args.probe, args.probe / "queries.pickle")
        return
    start = time.perf_counter()
    R._NAMED = R.bases(args.generated)
    n, size = len(R._NAMED), len(R._NAMED) + args.distractors
    ctx = multiprocessing.get_context("fork")
    cache = R._cache_path(args.generated, args.distractors)
    if cache.exists():
        items = pickle.loads(cache.read_bytes())
    else:
        with ctx.Pool(args.jobs) as mp:
            items = mp.map(R._analyse_stored, [(k, args.distractors) for k in range(size)],
                           chunksize=16)
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_bytes(pickle.dumps(items))
    pool = Pool([it.features for it in items[n:] if it.features is not None])
    print(f"gallery {size} ({n} bases), pool of {sum(len(d) for _, d in pool.parts):,} real"
          f" descriptors; {time.perf_counter() - start:.0f} s; load {os.getloadavg()[0]:.1f}")
    if args.reuse:
        index, built = opened(args.out, set(range(len(items) + args.pad))), 0.0
    else:
        shutil.rmtree(args.out, ignore_errors=True)
        args.out.mkdir(parents=True)
        index, built = build_index(items, pool, args.pad, args.out)
    disk = sum(p.stat().st_size for s in index.segments if s.folder is not None
               for p in s.folder.iterdir())
    print(f"padded index: {len(items) + args.pad:,} pictures, {index.size:,} rows,"
          f" {len(index.segments)} shards, {disk / 1e9:.2f} GB on disk, built in {built:.0f} s")
    _G = Padded(items, pool, index)
    _CROPS = [r for r in R.rows() if "crop" in r[0] and (not args.only or args.only in r[0])]
    low = {i for i in range(n) if items[i].quality < R.H.PDQ_MIN_QUALITY}
    scored = [i for i in range(n) if i not in low]
    jobs = [(r, i) for r in range(len(_CROPS)) for i in scored]
    with ctx.Pool(args.jobs) as mp:
        results = mp.map(_query, jobs, chunksize=4)
    print(f"\n{len(scored)} bases; load {os.getloadavg()[0]:.1f}\n")
    print(f"| crop row | add (K={ADD_CROP_CANDIDATES}) {size:,} | add padded |"
          f" match (K={matchrule.CROP_CANDIDATES}) {size:,} | match padded |")
    print("| --- | --- | --- | --- | --- |")
    worst = 0.0
    for r, (name, _) in enumerate(_CROPS):
        mine = [x for x in results if x["row"] == r]
        rec = {k: sum(x[k] == "re-upload" for x in mine) / len(mine)
               for k in ("small add", "padded add", "small match", "padded match")}
        worst = max(worst, rec["small add"] - rec["padded add"],
                    rec["small match"] - rec["padded match"])
        print(f"| {name} | {rec['small add']:.3f} | {rec['padded add']:.3f} |"
              f" {rec['small match']:.3f} | {rec['padded match']:.3f} |")
    for k in ("small", "padded"):
        vote = [x[f"{k} vote s"] * 1000 for x in results]
        find = [x[f"{k} find s"] * 1000 for x in results]
        print(f"{k}: keypoint votes per query median {statistics.median(vote):.0f} ms (max"
              f" {max(vote):.0f}), find at both widths median {statistics.median(find):.0f} ms")
    print(f"largest recall drop: {worst:.3f}; worker peak"
          f" {max(x['rss'] for x in results) / 1024:.0f} MB; {time.perf_counter() - start:.0f} s;"
          f" load {os.getloadavg()[0]:.1f}")
    crops = [R.analyse(F.encode(t(R._NAMED[i][1], i), "JPEG", quality=92)).features
             for (_, t) in _CROPS[:3] for i in scored[:4]]
    (args.out / "queries.pickle").write_bytes(pickle.dumps([c for c in crops if c is not None]))
    subprocess.run([sys.executable, __file__, "--probe", str(args.out)], check=True)


if __name__ == "__main__":
    main()
