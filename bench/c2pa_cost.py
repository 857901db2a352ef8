"""What reading C2PA credentials costs `prov add`: this checkout against one without it.

Runs `prov add` on bench/ingest.py's camera-size JPEGs (none carries a manifest, as most
evidence does not; each is still offered to the C2PA reader) with this checkout's code and
with a baseline checkout's, alternating, on fresh databases; prints the medians.

    git archive 3d86943 | tar -x -C /tmp/base      # the tree before C2PA reading
    .venv/bin/python bench/c2pa_cost.py --baseline /tmp/base [--count 48] [--rounds 5]
"""

from __future__ import annotations

import argparse
import os
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


def add_once(tree: Path, folder: Path) -> float:
    env = dict(os.environ, PYTHONPATH=str(tree))
    work = Path(tempfile.mkdtemp(prefix="prov-c2pa-bench-"))
    try:
        db = str(work / "evidence.db")
        subprocess.run([sys.executable, "-c", RUN, "--db", db, "init"], check=True, env=env,
                       stdout=subprocess.DEVNULL)
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", RUN, "--db", db, "add", str(folder)], check=True,
                       env=env, stdout=subprocess.DEVNULL)
        return time.perf_counter() - start
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
    for _ in range(args.rounds):
        base.append(add_once(args.baseline, folder))
        ours.append(add_once(ROOT, folder))
    b, o = statistics.median(base), statistics.median(ours)
    print(f"{args.count} JPEGs of 4000x3000, {args.rounds} rounds alternating, medians;"
          f" load average {os.getloadavg()[0]:.1f}")
    print(f"without C2PA : {b:6.2f} s  {args.count / b:5.1f} files/s  {sorted(base)}")
    print(f"with C2PA    : {o:6.2f} s  {args.count / o:5.1f} files/s  {sorted(ours)}")
    print(f"cost         : {100 * (o - b) / b:+.1f}%")


if __name__ == "__main__":
    main()
