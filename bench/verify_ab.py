"""Builds of `prov verify --no-rehash` on one database, alternating: CPU, wall, memory.

    .venv/bin/python bench/verify_ab.py --db DB --runs 3 \
        --variant "old=/work/wt-old/.venv/bin/prov" \
        --variant "inline=.venv/bin/prov PROV_VERIFY_WORKER=never" \
        --variant "worker=.venv/bin/prov PROV_VERIFY_WORKER=always"

Each run is timed by wait4 (CPU is user + system of the command and of the processes it
waited for, such as the full verify's chain worker); the variants alternate so the
machine's load, which moves every figure here, falls on each alike. Medians at the end.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import time


def timed(cmd: list[str], env: dict[str, str]) -> tuple[float, float, int, str]:
    """(CPU seconds, wall seconds, peak resident KB, output)."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            env={**os.environ, **env})
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    out = proc.stdout.read().decode() if proc.stdout else ""
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(cmd)} failed: {out}")
    return usage.ru_utime + usage.ru_stime, wall, usage.ru_maxrss, out.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", required=True)
    parser.add_argument("--variant", action="append", required=True,
                        metavar="NAME=PROV [KEY=VALUE ...]",
                        help="a prov executable and the environment to run it with")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--nice", type=int, default=5)
    args = parser.parse_args()
    variants = {}
    for text in args.variant:
        name, _, rest = text.partition("=")
        prov, *pairs = rest.split()
        variants[name] = (prov, dict(pair.split("=", 1) for pair in pairs))
    events = None
    figures: dict[str, list[tuple[float, float, int]]] = {name: [] for name in variants}
    loads = []
    for run in range(args.runs):
        for name, (prov, env) in variants.items():
            loads.append(os.getloadavg()[0])
            cpu, wall, rss, out = timed(["nice", "-n", str(args.nice), prov, "--db", args.db,
                                         "verify", "--no-rehash"], env)
            events = events or int(out.split()[1])
            figures[name].append((cpu, wall, rss))
            print(f"run {run + 1} {name}: {cpu:.2f} s CPU, {wall:.2f} s wall, {rss // 1024} MB,"
                  f" load {loads[-1]:.1f}: {out[:40]}", flush=True)
    assert events
    print(f"\n{events:,} events, medians of {args.runs}, load {min(loads):.1f}-{max(loads):.1f}")
    for name, rows in figures.items():
        cpu = statistics.median(r[0] for r in rows)
        wall = statistics.median(r[1] for r in rows)
        rss = statistics.median(r[2] for r in rows) / 1024
        print(f"{name}: {cpu:.2f} s CPU ({events / cpu:,.0f} events/s), {wall:.2f} s wall"
              f" ({events / wall:,.0f} events/s), {rss:.0f} MB")


if __name__ == "__main__":
    main()
