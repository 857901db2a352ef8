"""Start-up cost: `prov --help` wall time, median of many runs (budget: 0.3 s).

    .venv/bin/python bench/startup.py [--runs 20]
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
    args = parser.parse_args()
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


if __name__ == "__main__":
    main()
