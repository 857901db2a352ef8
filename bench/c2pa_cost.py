"""What reading C2PA credentials costs `prov add`: this checkout against one without it.

Runs `prov add` on bench/ingest.py's camera-size JPEGs (none carries a manifest, as most
evidence does not; each is still offered to the C2PA reader) with this checkout's code and
with a baseline checkout's, alternating, on fresh databases; prints the medians of wall
time and of CPU time (user + system of `prov add` and its workers: steadier than wall time
on a shared machine).

    git archive 3d86943 | tar -x -C /tmp/base      # the tree before C2PA reading
    .venv/bin/python bench/c2pa_cost.py --baseline /tmp/base [--count 48] [--rounds 5]
"""

from __future__ import annotations

import argparse
import os
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

RUN = "import sys; from provenance.cli import main; sys.argv[0] = 'prov'; main()"


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def add_once(tree: Path, folder: Path) -> tuple[float, float]:
    env = dict(os.environ, PYTHONPATH=str(tree))
    work = Path(tempfile.mkdtemp(prefix="prov-c2pa-bench-"))
    try:
        db = str(work / "evidence.db")
        subprocess.run([sys.executable, "-c", RUN, "--db", db, "init"], check=True, env=env,
                       stdout=subprocess.DEVNULL)
        start, cpu = time.perf_counter(), _cpu()
        subprocess.run([sys.executable, "-c", RUN, "--db", db, "add", str(folder)], check=True,
                       env=env, stdout=subprocess.DEVNULL)
        return time.perf_counter() - start, _cpu() - cpu
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    from bench.ingest import make_photos

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", type=Path, required=True)
    parser.add_argument("--count", type=int, default=48)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    folder = ROOT / "bench" / "out" / f"jpegs-4000x3000-{args.count}"
    make_photos(folder, args.count, (4000, 3000))
    base, ours = [], []
    load = [os.getloadavg()[0]]
    for _ in range(args.rounds):
        base.append(add_once(args.baseline, folder))
        ours.append(add_once(ROOT, folder))
        load.append(os.getloadavg()[0])
    print(f"{args.count} JPEGs of 4000x3000, {args.rounds} rounds alternating, medians;"
          f" load average {min(load):.1f}-{max(load):.1f}")
    for i, what in ((0, "wall"), (1, "CPU ")):
        b = statistics.median(r[i] for r in base)
        o = statistics.median(r[i] for r in ours)
        print(f"{what} without C2PA {b:6.2f} s, with {o:6.2f} s: {100 * (o - b) / b:+.1f}%"
              f"  ({args.count / b:.1f} vs {args.count / o:.1f} files/s)")


if __name__ == "__main__":
    main()
