"""Start-up cost: `prov --help` wall time, median of many runs (budget: 0.3 s).

    .venv/bin/python bench/startup.py [--runs 20] [--compare OTHER_CHECKOUT]

With --compare, `python -m provenance --help` is timed in this checkout and in another one
(e.g. a `git worktree` of an older commit), alternating, so the two medians share the
machine's load.
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--compare", type=Path, help="another checkout to time side by side")
    args = parser.parse_args()
    if args.compare:
        compare(args.runs, Path(__file__).resolve().parent.parent, args.compare.resolve())
        return
    prov = str(Path(sys.executable).with_name("prov"))
    # As installed: bytecode cached (see bench/scale.py), and one warm-up run not timed.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    subprocess.run([prov, "--help"], check=True, stdout=subprocess.DEVNULL, env=env)
    load_before = os.getloadavg()[0]
    times = []
    for _ in range(args.runs):
        start = time.perf_counter()
        subprocess.run([prov, "--help"], check=True, stdout=subprocess.DEVNULL, env=env)
        times.append(time.perf_counter() - start)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
          f"{platform.python_version()}, load average {load_before:.1f} ->"
          f" {os.getloadavg()[0]:.1f}")
    print(f"prov --help: median {statistics.median(times) * 1000:.0f} ms, "
          f"min {min(times) * 1000:.0f} ms, max {max(times) * 1000:.0f} ms over {args.runs} runs")


def compare(runs: int, here: Path, other: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    command = [sys.executable, "-m", "provenance", "--help"]
    for tree in (here, other):  # warm-up: bytecode written
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, env=env, cwd=tree)
    load_before = os.getloadavg()[0]
    times: dict[Path, list[float]] = {here: [], other: []}
    for _ in range(runs):
        for tree in (here, other):
            start = time.perf_counter()
            subprocess.run(command, check=True, stdout=subprocess.DEVNULL, env=env, cwd=tree)
            times[tree].append(time.perf_counter() - start)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
          f"{platform.python_version()}, load average {load_before:.1f} ->"
          f" {os.getloadavg()[0]:.1f}")
    for tree, label in ((here, "this checkout"), (other, f"{other}")):
        t = times[tree]
        print(f"{label}: median {statistics.median(t) * 1000:.0f} ms, min {min(t) * 1000:.0f}"
              f" ms over {runs} runs")


if __name__ == "__main__":
    main()
