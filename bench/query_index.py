"""Measure HashIndex search (numpy vs faiss) and clustering on 1,000,000 synthetic PDQ hashes."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from provenance.matching.index import HashIndex, cluster, near_pairs  # noqa: E402


def flip(rng: np.random.Generator, h: np.ndarray, bits: int) -> np.ndarray:
    out = h.copy()
    for pos in rng.choice(256, size=bits, replace=False):
        out[pos // 8] ^= np.uint8(1 << (pos % 8))
    return out


def synthetic(n: int, families: int, rng: np.random.Generator
              ) -> tuple[np.ndarray, list[list[int]]]:
    """n random hashes; the first families*4 rows are families of 4 copies within 8-28 bits."""
    hashes = rng.integers(0, 256, size=(n, 32), dtype=np.uint8)
    planted = []
    for f in range(families):
        base = f * 4
        for k in range(1, 4):
            hashes[base + k] = flip(rng, hashes[base], int(rng.integers(8, 29)))
        planted.append([base, base + 1, base + 2, base + 3])
    return hashes, planted


def timeit(fn, repeat: int) -> float:
    fn()
    start = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - start) / repeat * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-n", type=int, default=1_000_000)
    args = parser.parse_args()
    rng = np.random.default_rng(7)
    hashes, planted = synthetic(args.n, 2000, rng)
    ids = np.arange(args.n, dtype=np.int64)
    print(f"{args.n:,} hashes, 256 bits, {os.cpu_count()} cores\n")
    index = HashIndex(ids, hashes)
    query = flip(rng, hashes[0], 20).tobytes()
    hits = index.search(query, 31)
    assert hits and hits[0][0] == 0, hits[:3]
    print("| search | ms per query |\n|---|---|")
    print(f"| numpy HashIndex.search | {timeit(lambda: index.search(query, 31), 30):.2f} |")
    variants = [flip(rng, hashes[0], 3).tobytes() for _ in range(8)]
    print(f"| numpy search_many (8 dihedral) | "
          f"{timeit(lambda: index.search_many(variants, 31), 10):.2f} |")
    try:
        import faiss
    except ImportError:
        print("| faiss-cpu IndexBinaryFlat | not installed |")
    else:
        for threads in (1, 2):
            faiss.omp_set_num_threads(threads)
            fi = faiss.IndexBinaryFlat(256)
            fi.add(hashes)
            qa = np.frombuffer(query, dtype=np.uint8).reshape(1, 32)
            ms = timeit(lambda fi=fi, qa=qa: fi.range_search(qa, 32), 30)
            print(f"| faiss-cpu IndexBinaryFlat range_search, {threads} thread(s) | {ms:.2f} |")

    start = time.perf_counter()
    a, b, d = near_pairs(hashes, 31)
    pairs_s = time.perf_counter() - start
    found = set(zip(a.tolist(), b.tolist(), strict=True))
    truth = [(x, y, int(np.unpackbits(hashes[x] ^ hashes[y]).sum()))
             for fam in planted for i, x in enumerate(fam) for y in fam[i + 1:]]
    truth = [(x, y, dd) for x, y, dd in truth if dd <= 31]
    recall = sum((x, y) in found for x, y, _ in truth) / len(truth)
    start = time.perf_counter()
    families = cluster(hashes, 31)
    cluster_s = time.perf_counter() - start
    whole = sum(any(set(p) <= set(f) for f in families) for p in planted)
    print(f"\nnear_pairs(<=31): {pairs_s:.1f} s, {len(a):,} pairs, "
          f"recall of planted pairs within 31 bits {recall:.4f} ({len(truth)} pairs)")
    print(f"cluster(<=31): {cluster_s:.1f} s, {len(families)} families, "
          f"{whole}/{len(planted)} planted families recovered whole")


if __name__ == "__main__":
    main()
