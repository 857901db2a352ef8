"""`prov match FILE` as a user runs it, this checkout against another, alternating.

    .venv/bin/python bench/match_cost.py --db DB --query Q --other ../old/.venv/bin/prov [--runs 7]

Each run is its own process (`prov --db DB match Q`, then `prov --version`), this checkout's
and the other's taking turns, so both share the machine's load; one warm-up run each is not
counted. Printed: median and range of wall time, median CPU time (user + system, from
wait4), peak resident memory, and the load average over the runs. A query made as
bench/archive.py's --measure makes it: `--reupload PHOTO` writes PHOTO resized to 60% at
JPEG quality 70 to Q first.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path


def run(cmd: list[str], env: dict[str, str]) -> tuple[float, float, float]:
    """Wall seconds, CPU seconds and peak resident MB of one process."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    if os.waitstatus_to_exitcode(status):
        raise SystemExit(f"{' '.join(cmd)} failed")
    return (time.perf_counter() - start, usage.ru_utime + usage.ru_stime,
            usage.ru_maxrss / 1024)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path, required=True)
    parser.add_argument("--query", type=Path, required=True)
    parser.add_argument("--other", required=True, help="the other checkout's prov")
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--reupload", type=Path, help="make --query from this photo first")
    args = parser.parse_args()
    if args.reupload:
        from PIL import Image

        img = Image.open(args.reupload)
        img.resize((img.width * 3 // 5, img.height * 3 // 5)).save(args.query, "JPEG",
                                                                  quality=70)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    provs = {"this": str(Path(sys.executable).with_name("prov")), "other": args.other}
    commands = {
        "match": lambda p: [p, "--db", str(args.db), "match", str(args.query)],
        "--version": lambda p: [p, "--version"],
    }
    for what, make in commands.items():
        for prov in provs.values():
            run(make(prov), env)  # warm-up: bytecode and page cache
        loads, got = [], {name: [] for name in provs}
        for _ in range(args.runs):
            for name, prov in provs.items():
                loads.append(os.getloadavg()[0])
                got[name].append(run(make(prov), env))
        print(f"prov {what} ({args.runs} runs each, alternating; load {min(loads):.1f}-"
              f"{max(loads):.1f}; {platform.machine()}, {os.cpu_count()} cores):")
        for name, results in got.items():
            wall = [r[0] * 1000 for r in results]
            cpu = [r[1] * 1000 for r in results]
            print(f"  {name:5}  wall median {statistics.median(wall):5.0f} ms"
                  f" ({min(wall):.0f}-{max(wall):.0f}), CPU median {statistics.median(cpu):5.0f}"
                  f" ms ({min(cpu):.0f}-{max(cpu):.0f}), peak {max(r[2] for r in results):.0f} MB")


if __name__ == "__main__":
    main()
