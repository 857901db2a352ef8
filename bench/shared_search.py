"""Shared PDQ search past one machine, in a small working form: faiss on one host, served
over HTTP on 127.0.0.1, against prov's own exact chunk index, on a real prov database's
hashes (issue 20, "past one machine").

    pip install faiss-cpu   # into the bench's environment only: not a prov dependency
    .venv/bin/python bench/shared_search.py --db /work/bench-data/million.db [--pad N]

It loads every PDQ hash the database holds (the hash cache `prov match` reads), asks the same
queries of four engines and checks they return the same (query, row, distance) triples within
PDQ_MATCH bits:

- prov's chunk index (`matching/index.py` ChunkIndex: 16 sorted 16-bit chunk tables, exact up
  to 31 bits), what `prov match` uses today;
- faiss `IndexBinaryFlat` (exhaustive, SIMD popcount);
- faiss `IndexBinaryMultiHash` (16 hash tables of 16 bits, one bit flipped: exact up to 31
  bits by the pigeonhole principle; the index python-threatexchange uses for PDQ);
- the same MultiHash index behind a small HTTP endpoint on 127.0.0.1 (JSON in, JSON out):
  the "one host" a team's machines would ask.

Queries: stored hashes with 0-40 random bits flipped (so some fall beyond the threshold) and
random hashes. `--pad N` appends N random hashes to every engine, to see tens of millions.
Reported: build time, resident memory added, per-query latency (median and 95th percentile,
one hash a query, as `prov match` asks for each of a file's hashes), and agreement.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from provenance.ledger.db import open_db, store_dir  # noqa: E402
from provenance.matching import hashcache  # noqa: E402
from provenance.matching.hashing import PDQ_MATCH  # noqa: E402
from provenance.matching.index import ChunkIndex  # noqa: E402


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) / 1024


def queries(values: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """Half stored hashes with 0-40 bits flipped, half random."""
    planted = values[rng.integers(0, len(values), count // 2)].copy()
    bits = np.unpackbits(planted, axis=1)
    for row in bits:
        row[rng.choice(256, int(rng.integers(0, 41)), replace=False)] ^= 1
    planted = np.packbits(bits, axis=1)
    noise = rng.integers(0, 256, (count - count // 2, 32), dtype=np.uint8)
    return np.concatenate([planted, noise])


def triples_prov(chunk: ChunkIndex, q: np.ndarray) -> tuple[set[tuple[int, int, int]], list[float]]:
    found: set[tuple[int, int, int]] = set()
    took = []
    for i, row in enumerate(q):
        t = time.perf_counter()
        rows, dist = chunk.within([row.tobytes()], PDQ_MATCH)
        took.append(time.perf_counter() - t)
        found.update((i, int(r), int(d)) for r, d in zip(rows, dist, strict=True))
    return found, took


def triples_faiss(index: Any, q: np.ndarray) -> tuple[set[tuple[int, int, int]], list[float]]:
    found: set[tuple[int, int, int]] = set()
    took = []
    for i, row in enumerate(q):
        t = time.perf_counter()
        lims, dist, ids = index.range_search(row[None, :], PDQ_MATCH + 1)  # radius exclusive
        took.append(time.perf_counter() - t)
        found.update((i, int(r), int(d)) for r, d in zip(ids[lims[0]:lims[1]],
                                                         dist[lims[0]:lims[1]], strict=True))
    return found, took


def serve(index: Any) -> tuple[ThreadingHTTPServer, str]:
    """A faiss index behind POST /search on 127.0.0.1 (an ephemeral port)."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            try:
                length = int(self.headers.get("Content-Length", "0"))
                if not 0 < length <= 1 << 20:
                    raise ValueError("body must be 1 byte to 1 MiB")
                doc = json.loads(self.rfile.read(length))
                hexes = doc["pdq"]
                if not isinstance(hexes, list) or not 0 < len(hexes) <= 64:
                    raise ValueError("pdq: a list of 1 to 64 hashes")
                q = np.frombuffer(b"".join(bytes.fromhex(h) for h in hexes), np.uint8)
                q = q.reshape(len(hexes), 32)
                lims, dist, ids = index.range_search(q, PDQ_MATCH + 1)
                out = [[[int(r), int(d)] for r, d in zip(ids[lims[i]:lims[i + 1]],
                                                         dist[lims[i]:lims[i + 1]], strict=True)]
                       for i in range(len(hexes))]
                body, status = json.dumps({"matches": out}).encode(), 200
            except (ValueError, KeyError, TypeError) as exc:
                body, status = json.dumps({"error": str(exc)}).encode(), 400
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/search"


def triples_http(url: str, q: np.ndarray) -> tuple[set[tuple[int, int, int]], list[float]]:
    found: set[tuple[int, int, int]] = set()
    took = []
    for i, row in enumerate(q):
        data = json.dumps({"pdq": [row.tobytes().hex()]}).encode()
        t = time.perf_counter()
        request = urllib.request.Request(url, data, {"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=60) as reply:
            doc = json.loads(reply.read())
        took.append(time.perf_counter() - t)
        found.update((i, r, d) for r, d in doc["matches"][0])
    return found, took


def line(label: str, took: list[float], build: float | None, mem: float | None) -> None:
    ms = sorted(t * 1000 for t in took)
    p95 = ms[min(len(ms) - 1, int(len(ms) * 0.95))]
    extra = (f"   build {build:7.1f} s" if build is not None else "") + (
        f"   +{mem:7.0f} MB resident" if mem is not None else "")
    print(f"{label:<44} median {statistics.median(ms):8.2f} ms   p95 {p95:8.2f} ms{extra}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", required=True, help="a prov database (read only)")
    ap.add_argument("--pad", type=int, default=0, help="random hashes added to every engine")
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--seed", type=int, default=20)
    ap.add_argument("--no-multihash", action="store_true",
                    help="skip MultiHash (its hash tables take ~240 bytes a hash)")
    args = ap.parse_args()
    import faiss  # the engine under test; not a prov dependency

    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python"
          f" {platform.python_version()}, faiss {faiss.__version__}, numpy {np.__version__};"
          f" load {'/'.join(f'{x:.2f}' for x in os.getloadavg())}")
    faiss.omp_set_num_threads(1)  # one query at a time on a shared machine: one core each
    conn = open_db(args.db, write=False)
    t = time.perf_counter()
    loaded = hashcache.load(conn, store_dir(Path(args.db)))
    values = np.ascontiguousarray(loaded.stored.values["pdq"])
    print(f"{len(values):,} PDQ hashes from {args.db} (hash cache loaded in"
          f" {time.perf_counter() - t:.2f} s)")
    rng = np.random.default_rng(args.seed)
    if args.pad:
        values = np.concatenate([values, rng.integers(0, 256, (args.pad, 32), dtype=np.uint8)])
        print(f"padded with {args.pad:,} random hashes: {len(values):,}")
    q = queries(values, args.queries, rng)

    m0 = rss_mb()
    t = time.perf_counter()
    chunk = loaded.chunk_index if not args.pad and loaded.chunk_index is not None and \
        len(loaded.chunk_index.values) == len(values) else ChunkIndex.build(values)
    prov_build, prov_mem = time.perf_counter() - t, rss_mb() - m0
    triples_prov(chunk, q[:20])  # warm: first touches fault pages in
    got_prov, took_prov = triples_prov(chunk, q)

    m0 = rss_mb()
    t = time.perf_counter()
    flat = faiss.IndexBinaryFlat(256)
    flat.add(values)
    flat_build, flat_mem = time.perf_counter() - t, rss_mb() - m0
    triples_faiss(flat, q[:20])
    got_flat, took_flat = triples_faiss(flat, q)

    served: Any = flat
    got_multi: set[tuple[int, int, int]] | None = None
    took_multi: list[float] = []
    multi_build = multi_mem = 0.0
    if not args.no_multihash:
        del flat
        m0 = rss_mb()
        t = time.perf_counter()
        served = faiss.IndexBinaryMultiHash(256, 16, 16)
        served.nflip = 1
        served.add(values)
        multi_build, multi_mem = time.perf_counter() - t, rss_mb() - m0
        triples_faiss(served, q[:20])
        got_multi, took_multi = triples_faiss(served, q)
    server, url = serve(served)
    try:
        triples_http(url, q[:20])
        got_http, took_http = triples_http(url, q)
    finally:
        server.shutdown()

    print(f"{args.queries} queries, one PDQ hash each, within {PDQ_MATCH} bits;"
          f" {len(got_prov)} (query, row) pairs found by prov's index")
    line("prov ChunkIndex (what prov match uses)", took_prov,
         prov_build if chunk is not loaded.chunk_index else None,
         prov_mem if chunk is not loaded.chunk_index else None)
    line("faiss IndexBinaryFlat (exhaustive)", took_flat, flat_build, flat_mem)
    if got_multi is not None:
        line("faiss IndexBinaryMultiHash 16x16, nflip 1", took_multi, multi_build, multi_mem)
    line(f"  {'MultiHash' if got_multi is not None else 'Flat'} over HTTP on 127.0.0.1",
         took_http, None, None)
    results = {"Flat": got_flat, "HTTP": got_http}
    if got_multi is not None:
        results["MultiHash"] = got_multi
    for name, got in results.items():
        agree = "the same pairs and distances" if got == got_prov else (
            f"DIFFERENT: {len(got - got_prov)} extra, {len(got_prov - got)} missing")
        print(f"faiss {name} vs prov: {agree}")
    if any(got != got_prov for got in results.values()):
        sys.exit(1)


if __name__ == "__main__":
    main()
