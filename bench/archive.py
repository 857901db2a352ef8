"""A newsroom's archive: N items registered through prov's own log, then measured.

Unlike bench/scale.py (hashes written straight into the tables), every row here comes from an
event appended by `log.record`, the function every prov command records through, so the
database passes `prov verify`. A sample of real photos goes through `prov add`'s own
registration (`ingest.register.add_paths`: analysis, stored original, log); the rest are
synthetic but well-formed registrations as `prov add --no-copy` records them (referenced, not
copied: a million originals would be terabytes), with what a real one carries: SHA-256, MD5,
PDQ of the whole picture and its ten windows, pHash, camera metadata, GPS for some. Around
them, what years of work leave: sightings in 400 cases (some items seen twice), actors,
custody records, geolocation claims and reviews, near-duplicate relations.

Events are recorded in transactions of a few thousand (prov add commits one per item; the
events and tables written are the same).

    .venv/bin/python bench/archive.py --items 1000000 --db bench/out/archive/evidence.db
    .venv/bin/python bench/archive.py --db bench/out/archive/evidence.db --measure
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import random
import sqlite3
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

BY = "archivist"
CASES = 400
ACTORS = 300
CAMERAS = [("Apple", "iPhone 13"), ("Samsung", "SM-A525F"), ("Canon", "EOS 80D"),
           ("Xiaomi", "Redmi Note 10"), ("Google", "Pixel 7"), (None, None)]
WINDOWS = ("c90", "tl90", "tr90", "bl90", "br90", "c80", "tl80", "tr80", "bl80", "br80")


def _hex(rng: random.Random, n: int) -> str:
    return rng.getrandbits(n * 8).to_bytes(n, "big").hex()


def _near(value: str, rng: random.Random, bits: int) -> str:
    number = int(value, 16)
    for b in rng.sample(range(len(value) * 4), bits):
        number ^= 1 << b
    return f"{number:0{len(value)}x}"


def _registration(i: int, rng: random.Random, like: str | None) -> dict[str, Any]:
    sha = hashlib.sha256(b"archive-item-%d" % i).hexdigest()
    make, model = rng.choice(CAMERAS)
    width, height = rng.choice([(4032, 3024), (1600, 1200), (1080, 1920), (1280, 720)])
    day = 1 + i % 28
    meta: dict[str, Any] = {"width": width, "height": height,
                            "c2pa": {"reader": "c2pa-rs 0.91.3", "state": "none"}}
    if make:
        meta.update(make=make, model=model,
                    captured_at=f"20{18 + i % 7}-{1 + i % 12:02}-{day:02}T{i % 24:02}:"
                                f"{i % 60:02}:00+03:00",
                    captured_at_source="DateTimeOriginal", captured_offset="+03:00",
                    captured_offset_source="EXIF OffsetTimeOriginal")
        if rng.random() < 0.3:
            meta.update(gps_latitude=round(rng.uniform(-60, 70), 6),
                        gps_longitude=round(rng.uniform(-180, 180), 6))
    pdq = _near(like, rng, rng.randint(2, 14)) if like else _hex(rng, 32)
    hashes = [{"algorithm": "pdq", "frame_seconds": None, "page": None,
               "quality": rng.randint(60, 100), "region": "full", "value": pdq},
              {"algorithm": "phash", "frame_seconds": None, "page": None, "quality": None,
               "region": "full", "value": _hex(rng, 8)}]
    hashes += [{"algorithm": "pdq", "frame_seconds": None, "page": None,
                "quality": rng.randint(60, 100), "region": w, "value": _hex(rng, 32)}
               for w in WINDOWS]
    return {"sha256": sha, "md5": hashlib.md5(sha.encode()).hexdigest(),
            "size": rng.randint(150_000, 6_000_000), "mime": "image/jpeg", "kind": "image",
            "stored": False, "metadata": meta, "raw_metadata": {}, "hashes": hashes}


def _sighting(i: int, rng: random.Random, case: str) -> dict[str, Any]:
    name = f"IMG_{i:07}.jpg"
    return {"path": f"/mnt/archive/{case}/{name}", "file_name": name, "file_name_hex": None,
            "size": None, "source_url": (f"https://t.me/channel{rng.randint(1, 900)}/{i}"
                                         if rng.random() < 0.6 else None),
            "case": case, "title": None, "note": None}


def _when(rng: random.Random) -> dict[str, Any]:
    from provenance.case.when import parse_when

    return parse_when(f"2023-{rng.randint(1, 12):02}-{rng.randint(1, 28):02}").to_json()


def add_synthetic(conn: sqlite3.Connection, start: int, count: int, *, seed: int = 0,
                  batch: int = 5000, actors: list[int] | None = None) -> int:
    """Register items start..start+count-1 with their sightings, custody, claims and
    relations; return the number of events recorded."""
    from provenance.ledger import log
    from provenance.ledger.db import transaction

    rng = random.Random(seed * 1_000_003 + start)
    actors = actors or [int(r[0]) for r in conn.execute(
        "SELECT id FROM actors ORDER BY id LIMIT ?", (ACTORS,))]
    before = log.head(conn)[0]
    recent: list[tuple[str, str]] = []  # (sha, pdq) of recent items, for planted near copies
    for first in range(start, start + count, batch):
        with transaction(conn):
            for i in range(first, min(first + batch, start + count)):
                like = recent[rng.randrange(len(recent))] if recent and rng.random() < 0.02 \
                    else None
                reg = _registration(i, rng, like[1] if like else None)
                sha = reg["sha256"]
                log.record(conn, "item.registered", reg, by=BY, item=sha)
                case = f"case-{rng.randrange(CASES):03}"
                log.record(conn, "sighting.recorded", _sighting(i, rng, case), by=BY, item=sha)
                if rng.random() < 0.12:
                    log.record(conn, "sighting.recorded",
                               _sighting(i, rng, f"case-{rng.randrange(CASES):03}"),
                               by=BY, item=sha)
                if actors and rng.random() < 0.25:
                    log.record(conn, "custody.recorded", {
                        "action": rng.choice(["received", "downloaded", "obtained"]),
                        "from_actor": rng.choice(actors), "to_actor": None,
                        "asserted_by": None, "at": _when(rng), "url": None, "note": None},
                        by=BY, item=sha)
                if rng.random() < 0.06:
                    claim = log.record(conn, "claim.recorded", {
                        "latitude": round(rng.uniform(30, 50), 6),
                        "longitude": round(rng.uniform(20, 45), 6), "radius_m": 250.0,
                        "place": None, "place_geonameid": None, "claimant": None,
                        "method": rng.choice(["geolocated", "caption", "reported"]),
                        "confidence": rng.choice(["low", "medium", "high"]),
                        "source_url": None, "note": None}, by=BY, item=sha)
                    if rng.random() < 0.2:
                        log.record(conn, "claim.reviewed", {
                            "claim": claim.seq, "status": "verified",
                            "reason": "matched landmarks"}, by=BY, item=sha)
                if like:
                    log.record(conn, "near_duplicate.found", {
                        "other": like[0], "algorithm": "pdq", "distance": 8,
                        "verdict": "re-upload", "detail": {}}, by=BY, item=sha)
                recent.append((sha, reg["hashes"][0]["value"]))
                if len(recent) > 5000:
                    recent = recent[-2500:]
    return log.head(conn)[0] - before


def add_actors(conn: sqlite3.Connection, count: int = ACTORS) -> list[int]:
    from provenance.ledger import log
    from provenance.ledger.db import transaction

    with transaction(conn):
        return [log.record(conn, "actor.created", {
            "name": f"source {n}", "kind": ("account", "person", "organisation")[n % 3],
            "url": None, "note": None}, by=BY).seq for n in range(count)]


def add_real(conn: sqlite3.Connection, folder: Path, count: int) -> int:
    """`count` real photos through prov add's registration (analysis, stored original)."""
    from fixtures import media
    from provenance.ingest.register import Sighting, add_paths

    folder.mkdir(parents=True, exist_ok=True)
    for n in range(count):
        (folder / f"real_{n:04}.jpg").write_bytes(
            media.jpeg_with_exif(90_000 + n, size=(640, 480)))
    results = add_paths(conn, [str(folder)], Sighting(case="case-real"), by=BY,
                        check_matches=False)
    return sum(r.status == "new" for r in results)


def build(db: Path, items: int, *, real: int = 200, seed: int = 0) -> dict[str, float]:
    from provenance.ledger.db import open_db

    if db.exists():
        raise SystemExit(f"{db} exists: choose a new path (the bench never overwrites)")
    start = time.perf_counter()
    conn = open_db(db, create=True)
    # The bench's own connection reads its random-keyed indexes (items, hashes and sightings
    # by SHA-256) from a gigabyte of cache rather than the default 2 MB: past a few hundred
    # thousand items most inserts otherwise re-read their index pages from the OS. What is
    # written, and through which function, is unchanged.
    conn.execute("PRAGMA cache_size = -1000000")
    actors = add_actors(conn)
    real = min(real, items)
    added = add_real(conn, db.parent / "real-photos", real)
    for first in range(0, items - added, 100_000):  # progress, for a build of an hour
        add_synthetic(conn, first, min(100_000, items - added - first), seed=seed,
                      actors=actors)
        print(f"  {added + first + min(100_000, items - added - first):,} items after"
              f" {time.perf_counter() - start:.0f} s (load {os.getloadavg()[0]:.1f})",
              flush=True)
    events = int(conn.execute("SELECT COUNT(*) FROM events").fetchone()[0])
    conn.close()
    elapsed = time.perf_counter() - start
    size = sum(p.stat().st_size for p in db.parent.glob(db.name + "*"))
    return {"items": items, "events": events, "seconds": elapsed, "bytes": size}


def timed(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, int, str]:
    """Wall seconds, peak resident memory (KiB) and stdout of one command."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env,
                            text=True)
    assert proc.stdout is not None
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)  # reaped here, so its own peak memory is known
    proc.returncode = os.waitstatus_to_exitcode(status)
    elapsed = time.perf_counter() - start
    if proc.returncode:
        raise SystemExit(f"{' '.join(cmd)} exited {proc.returncode}")
    return elapsed, usage.ru_maxrss, out


def _median(cmd: list[str], runs: int, env: dict[str, str]) -> tuple[float, int, str]:
    timed(cmd, env)  # warm-up: bytecode, page cache
    results = [timed(cmd, env) for _ in range(runs)]
    return (statistics.median(r[0] for r in results), max(r[1] for r in results),
            results[-1][2])


def _http_median(url: str, runs: int) -> str:
    """'N ms' (median), or what went wrong (a page Datasette gave up on is HTTP 400)."""
    import urllib.error
    import urllib.request

    failed: list[str] = []

    def get() -> float:
        start = time.perf_counter()
        try:
            with urllib.request.urlopen(url, timeout=120) as reply:
                reply.read()
        except urllib.error.HTTPError as exc:
            failed.append(f"HTTP {exc.code}")
        return time.perf_counter() - start

    get()
    failed.clear()
    median = statistics.median(get() for _ in range(runs)) * 1000
    return f"{median:.0f} ms" + (f" ({len(failed)} of {runs} failed: {failed[0]})"
                                 if failed else "")


def measure(db: Path, runs: int = 5, full_verify: bool = True) -> None:
    """The table of figures: each command as a user runs it, in its own process."""
    import io
    import shutil
    import socket

    from PIL import Image

    from provenance.ledger.db import connect, open_db

    prov = str(Path(sys.executable).with_name("prov"))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PROV_INVESTIGATOR"] = BY
    base = [prov, "--db", str(db)]
    conn = connect(db)
    items = int(conn.execute("SELECT COUNT(*) FROM items").fetchone()[0])
    sha = str(conn.execute(
        "SELECT item FROM sightings WHERE case_name = 'case-123' LIMIT 1").fetchone()[0])
    in_case = conn.execute("SELECT COUNT(DISTINCT item) FROM sightings WHERE case_name ="
                           " 'case-123'").fetchone()[0]
    conn.close()
    work = db.parent / "measure"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    rows: list[tuple[str, str, str]] = []

    def row(what: str, figure: str, goal: str) -> None:
        figure += f"; load {os.getloadavg()[0]:.1f}"
        rows.append((what, figure, goal))
        print(f"{what}: {figure} (goal {goal})", flush=True)

    # A re-upload of a stored real photo: resized to 60% and recompressed.
    real = sorted((db.parent / "real-photos").iterdir())
    img = Image.open(real[3])
    small = img.resize((img.width * 3 // 5, img.height * 3 // 5))
    query = work / "reupload.jpg"
    small.save(query, "JPEG", quality=70)
    seconds, peak, out = _median([*base, "match", str(query), "--json"], runs, env)
    row("`prov match FILE` (a resized re-upload of a stored photo)",
        f"{seconds * 1000:.0f} ms, {peak / 1024:.0f} MB"
        f" ({'found' if 're-upload' in out else 'NOT found'})", "<= 0.5 s")
    for name, cmd, goal in (
            ("`prov show ITEM`", ["show", sha[:12]], "<= 0.3 s"),
            ("`prov log ITEM`", ["log", sha[:12]], "<= 0.3 s"),
            (f"`prov list --case --limit 100` (first page of {in_case:,} items)",
             ["list", "--case", "case-123", "--limit", "100"], "<= 0.3 s (first page)"),
            ("`prov search jpg` (a word in nearly every file name)", ["search", "jpg"],
             "<= 0.5 s")):
        seconds, peak, _ = _median([*base, *cmd], runs, env)
        row(name, f"{seconds * 1000:.0f} ms, {peak / 1024:.0f} MB", goal)

    # Datasette: the item page and a table page, served as `prov serve` serves them.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([*base, "serve", "--port", str(port)], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}/{db.stem}"
        for _ in range(600):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.2)
        item_page = _http_median(f"{url}/-/item/{sha}", runs)
        table_page = _http_median(f"{url}/items", runs)
        sightings_page = _http_median(f"{url}/sightings?case_name=case-123", runs)
    finally:
        server.terminate()
        _, _, usage = os.wait4(server.pid, 0)
        server.returncode = 0
    row("Datasette item page", item_page, "<= 300 ms")
    row("Datasette table page (items; sightings of one case)",
        f"{table_page}; {sightings_page} (server peak {usage.ru_maxrss / 1024:.0f} MB)",
        "<= 300 ms")

    seconds, peak, out = timed([*base, "dupes", "--json"], env)
    row("`prov dupes`", f"{seconds:.1f} s, {peak / 1024:.0f} MB", "<= 60 s")

    # One new photo, end to end, re-upload check included (and the log grows by it).
    from fixtures import media

    adds = []
    for n in range(3):
        photo = work / f"new_{n}.jpg"
        # Fresh photos each run (the same seeds would be "already held" the second time).
        raw = media.jpeg_with_exif(77_000 + 3 * items + n, size=(800, 600))
        Image.open(io.BytesIO(raw)).resize((4000, 3000)).save(
            photo, "JPEG", quality=90, exif=Image.open(io.BytesIO(raw)).getexif().tobytes())
        adds.append(timed([*base, "add", str(photo), "--case", "case-new"], env))
    row("`prov add` one new 12 MP photo (re-upload check included)",
        f"{statistics.median(a[0] for a in adds) * 1000:.0f} ms,"
        f" {max(a[1] for a in adds) / 1024:.0f} MB", "<= 1 s")

    import json

    if full_verify:
        seconds, peak, out = timed([*base, "verify", "--no-rehash", "--json"], env)
        doc = json.loads(out)
        row("full `prov verify --no-rehash`",
            f"{doc['events'] / seconds:,.0f} events/s ({doc['events']:,} events in"
            f" {seconds:.0f} s, ok={doc['ok']}), {peak / 1024:.0f} MB", ">= 50,000 events/s")

    cp = work / "cp.json"
    timed([*base, "checkpoint", "--out", str(cp)], env)
    conn = open_db(db)
    # Numbered after the items held now, so a second --measure adds new ones (the same
    # numbers would collide with the first run's).
    added = add_synthetic(conn, 10_000_000 + items, 400, seed=11)
    conn.close()
    seconds, peak, out = _median([*base, "verify", "--since", str(cp), "--json"], 3, env)
    doc = json.loads(out)
    row(f"`prov verify --since CHECKPOINT`, {added:,} new events",
        f"{seconds:.2f} s ({doc['replayed']:,} replayed, ok={doc['ok']}), {peak / 1024:.0f} MB",
        "<= 5 s")
    seconds, peak, out = timed([*base, "verify", "--since", str(cp), "--full-chain", "--json"],
                               env)
    doc = json.loads(out)
    row("the same with `--full-chain` (re-hashes the log before the checkpoint)",
        f"{seconds:.1f} s (ok={doc['ok']}), {peak / 1024:.0f} MB", "-")
    # The fixity schedule with it: first every stored original is due (none re-hashed
    # yet), then none is; each run that re-hashes records one fixity.checked event.
    for when in ("every stored original due", "none due"):
        seconds, peak, out = timed([*base, "verify", "--since", str(cp), "--rehash-older-than",
                                    "90d", "--json"], env)
        doc = json.loads(out)
        row(f"`prov verify --since CHECKPOINT --rehash-older-than 90d` ({when})",
            f"{seconds:.2f} s ({doc['files_checked']:,} originals re-hashed, ok={doc['ok']}),"
            f" {peak / 1024:.0f} MB", "<= 5 s")
    print(f"\n{items:,} items; machine {platform.machine()}, {os.cpu_count()} cores\n")
    print("| what | measured | goal |\n| --- | --- | --- |")
    for what, figure, goal in rows:
        print(f"| {what} | {figure} | {goal} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--db", type=Path, default=ROOT / "bench/out/archive/evidence.db")
    parser.add_argument("--real", type=int, default=200)
    parser.add_argument("--measure", action="store_true",
                        help="measure the commands on an archive built earlier")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--no-full-verify", action="store_true",
                        help="leave out the full verify (minutes at a million items)")
    args = parser.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python"
          f" {platform.python_version()}, load {os.getloadavg()[0]:.1f}")
    if not args.measure:
        args.db.parent.mkdir(parents=True, exist_ok=True)
        stats = build(args.db, args.items, real=args.real)
        print(f"built {stats['items']:,} items, {stats['events']:,} events in"
              f" {stats['seconds']:.0f} s ({stats['seconds'] / stats['items'] * 1000:.2f} ms"
              f" per item); {stats['bytes'] / 1e9:.2f} GB on disk,"
              f" {stats['bytes'] / stats['items'] / 1024:.1f} KiB per item"
              f" (load {os.getloadavg()[0]:.1f})")
        return
    measure(args.db, args.runs, full_verify=not args.no_full_verify)


if __name__ == "__main__":
    main()
