"""Scale: near-duplicate search over 1,000,000 stored hashes, `prov match`, `prov dupes`.

Budget (DESIGN.md): a query over 1,000,000 stored hashes in 5 ms in-process; `prov match`
end to end under 0.5 s; `prov dupes` over 1,000,000 items under 60 s.

The database is built by direct inserts into the projection tables (items, sightings,
hashes), not through the log: registering a million real files would take hours and
measures ingest, not search. Such a database does not pass `prov verify`, by design.
It holds a few dozen real photos (with their true hashes and keypoints) hidden among
random hashes, and planted families of near-identical hashes for `prov dupes`.

    .venv/bin/python bench/scale.py [--items 1000000] [--runs 30] [--match-runs 24]
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

REAL = 24  # real photos hidden in the haystack
FAMILIES = 20_000  # planted families of 2-5 near-identical hashes


def build(db: Path, items: int) -> Path:
    """A database of `items` items; returns the folder of real photos' re-uploads to query."""
    import numpy as np

    from fixtures import images as F
    from provenance.ingest.extract import hash_pixels
    from provenance.ledger.db import open_db, store_dir, transaction
    from provenance.ledger.evidence import EvidenceStore
    from provenance.matching import hashing
    from provenance.matching.derived import put_features

    queries = db.parent / "queries"
    if db.exists() and queries.exists():
        return queries
    shutil.rmtree(db.parent, ignore_errors=True)
    db.parent.mkdir(parents=True)
    queries.mkdir()
    conn = open_db(db, create=True)
    # No events back these rows (see the module docstring), so no foreign keys to them.
    conn.execute("PRAGMA foreign_keys = OFF")
    rng = np.random.default_rng(1)
    store = EvidenceStore.beside(conn)
    rows: list[tuple] = []
    hashes: list[tuple] = []
    sightings: list[tuple] = []
    seq = 0

    def item(sha: str, pdq: bytes, quality: int, phash: bytes) -> None:
        nonlocal seq
        seq += 1
        rows.append((sha, "0" * 32, 1, "image/jpeg", "image", 1, "2024-10-17T00:00:00Z",
                     "bench", seq, "{}", "{}"))
        hashes.append((sha, "pdq", pdq, quality))
        hashes.append((sha, "phash", phash, None))
        sightings.append((seq, sha, f"/bench/{seq}.jpg", f"{seq}.jpg", "2024-10-17T00:00:00Z",
                          "bench"))

    for i in range(REAL):
        img = F.photo(50_000 + i, (800, 600))
        data = F.encode(img, "JPEG", quality=90)
        import hashlib

        sha = hashlib.sha256(data).hexdigest()
        path = store.path_of(sha)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        stored_rows, _, features = hash_pixels(hashing.load_image(data))
        put_features(store_dir(db), sha, features or {})
        by = {r["algorithm"]: r for r in stored_rows if r["region"] == "full"}
        item(sha, bytes.fromhex(by["pdq"]["value"]), by["pdq"]["quality"],
             bytes.fromhex(by["phash"]["value"]))
        (queries / f"reupload_{i}.jpg").write_bytes(
            F.encode(F.text_watermark(F.resize(img, 0.6)), "JPEG", quality=70))
    planted = 0
    while seq < items:
        base = rng.integers(0, 256, 32, dtype=np.uint8)
        size = int(rng.integers(2, 6)) if planted < FAMILIES else 1
        planted += 1
        for _ in range(size):
            bits = np.unpackbits(base)
            bits[rng.choice(256, int(rng.integers(0, 20)), replace=False)] ^= 1
            pdq = np.packbits(bits).tobytes()
            item(f"{seq + 1:064x}", pdq, 90, rng.integers(0, 256, 8, dtype=np.uint8).tobytes())
            if seq >= items:
                break
    # The relations `prov add` would have recorded, one check per new item: found here in
    # one pass with the clustering index's pair search, and timed, since it is that work.
    values = np.frombuffer(b"".join(h[2] for h in hashes[0::2]), np.uint8).reshape(-1, 32)
    from provenance.matching.index import near_pairs

    start = time.perf_counter()
    a, b, d = near_pairs(values, hashing.PDQ_MATCH)
    print(f"all near pairs among {len(values):,} PDQ hashes: {len(a):,} pairs in"
          f" {time.perf_counter() - start:.1f} s")
    relations = [(rows[int(j)][8] + 0, rows[int(j)][0], rows[int(i)][0], "pdq", float(dist),
                  "re-upload", "{}", "2024-10-17T00:00:00Z", "bench")
                 for i, j, dist in zip(a, b, d, strict=True)]
    with transaction(conn):
        conn.executemany(
            "INSERT INTO near_duplicates (id, item, other, algorithm, distance, verdict,"
            " detail_json, recorded_at, recorded_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(items * 2 + n, *r[1:]) for n, r in enumerate(relations)])
        conn.executemany(
            "INSERT INTO items (sha256, md5, size, mime, kind, stored, registered_at,"
            " registered_by, registered_event, metadata_json, raw_metadata_json)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
        conn.executemany("INSERT INTO hashes (item, algorithm, value, quality)"
                         " VALUES (?, ?, ?, ?)", hashes)
        conn.executemany("INSERT INTO sightings (id, item, path, file_name, recorded_at,"
                         " recorded_by) VALUES (?, ?, ?, ?, ?, ?)", sightings)
    conn.close()
    return queries


def median_ms(fn, runs: int) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--match-runs", type=int, default=24,
                        help="`prov match` subprocesses timed (cycling over 8 query files)")
    args = parser.parse_args()

    import numpy as np

    from provenance.ledger.db import connect, store_dir
    from provenance.matching import hashcache, hashing, matchrule

    db = ROOT / "bench" / "out" / f"scale-{args.items}" / "evidence.db"
    start = time.perf_counter()
    queries = build(db, args.items)
    print(f"database: {args.items:,} items ({time.perf_counter() - start:.0f} s to build/open)")
    conn = connect(db)
    start = time.perf_counter()
    loaded = hashcache.load(conn, store_dir(db))
    print(f"hash cache load (first, builds the chunk tables): {time.perf_counter() - start:.2f} s")
    start = time.perf_counter()
    loaded = hashcache.load(conn, store_dir(db))
    print(f"hash cache load (warm, memory-mapped): {(time.perf_counter() - start) * 1000:.1f} ms")
    stored = loaded.stored
    assert loaded.chunk_index is not None
    stored.chunk = loaded.chunk_index  # as relations.catalogue does

    paths = sorted(queries.iterdir())
    from PIL import Image

    query_sets = []
    for p in paths:
        img = hashing.load_image(p)
        hashed = hashing.hash_image(img)
        box = hashed.trimmed
        trimmed = img.crop(box)
        query_sets.append([*hashed.hashes, *hashing.query_variants(trimmed)])
    pdq_queries = [[h.value for h in q if h.algorithm == "pdq"] for q in query_sets]
    found = sum(len(loaded.chunk_index.within(q, hashing.PDQ_MATCH)[0]) > 0 for q in pdq_queries)
    i = iter(range(10**9))
    exact = median_ms(lambda: loaded.chunk_index.within(pdq_queries[next(i) % len(paths)],
                                                        hashing.PDQ_MATCH), args.runs)
    idx = stored.index("pdq")
    upright = median_ms(lambda: idx.distances(pdq_queries[0][0]), args.runs)
    j = iter(range(10**9))
    full = median_ms(lambda: matchrule.find(query_sets[next(j) % len(paths)], stored),
                     max(5, args.runs // 3))
    del Image, np
    print(f"in-process, {len(stored):,} PDQ hashes:")
    print(f"  exact search, 8 dihedral variants, <= {hashing.PDQ_MATCH} bits: {exact:.1f} ms"
          f" median ({found}/{len(paths)} re-uploads found)")
    print(f"  one brute-force distance pass (similar band, crop candidates): {upright:.1f} ms")
    print(f"  matchrule.find, whole rule without the crop stage: {full:.1f} ms")

    prov = str(Path(sys.executable).with_name("prov"))
    # As installed: Python may cache prov's compiled bytecode. With PYTHONDONTWRITEBYTECODE
    # set (some sandboxes set it) and no cache yet, every run would compile prov's modules
    # again (~40 ms) - a cost no installed copy pays.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    match_files = paths[:8]
    subprocess.run([prov, "--db", str(db), "match", str(match_files[0]), "--json"],
                   capture_output=True, check=True, env=env)  # warm-up: bytecode, page cache
    times = []
    hits = 0
    load_before = os.getloadavg()[0]
    for n in range(args.match_runs):
        p = match_files[n % len(match_files)]
        start = time.perf_counter()
        out = subprocess.run([prov, "--db", str(db), "match", str(p), "--json"],
                             capture_output=True, text=True, check=True, env=env)
        times.append(time.perf_counter() - start)
        hits += n < len(match_files) and '"re-upload"' in out.stdout
    print(f"prov match FILE end to end: {statistics.median(times) * 1000:.0f} ms median over"
          f" {len(times)} runs of {len(match_files)} files (min {min(times) * 1000:.0f},"
          f" max {max(times) * 1000:.0f} ms; load average {load_before:.1f} ->"
          f" {os.getloadavg()[0]:.1f}; {hits}/{min(len(match_files), args.match_runs)}"
          " found their original)")

    start = time.perf_counter()
    out = subprocess.run([prov, "--db", str(db), "dupes", "--json"], capture_output=True,
                         text=True, check=True, env=env)
    elapsed = time.perf_counter() - start
    import json

    families = json.loads(out.stdout)
    print(f"prov dupes end to end: {elapsed:.1f} s, {len(families):,} families"
          f" ({FAMILIES:,} planted)")
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, load average"
          f" {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
