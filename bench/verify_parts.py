"""Where a full `prov verify --no-rehash` spends its wall clock, with the chain worker.

    .venv/bin/python bench/verify_parts.py --db DB [--no-streams]

Runs the worker path of ledger/verify.py step by step, in-process, on one snapshot: the
replay here (with the hash rows compared as it goes) while the forked worker checks the
chain and compares the sightings and custody rows; then the wait for the worker, the
replay's commit and the tables' comparison in SQL, each timed. `--no-streams` leaves the
sightings and custody to the replay, as when the live tables were not created by the
migrations. Read-only on DB.
"""

from __future__ import annotations

import argparse
import os
import resource
import time
from pathlib import Path

from provenance.ledger import chainworker, replaycheck, rowstream, verify
from provenance.ledger.db import open_db


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", required=True, type=Path)
    parser.add_argument("--no-streams", action="store_true",
                        help="leave the sightings and custody to the replay")
    args = parser.parse_args()
    conn = open_db(args.db, write=False)
    start = time.perf_counter()
    replayer = replaycheck.Replayer(verify._statements())
    try:
        conn.execute(f"ATTACH DATABASE ? AS {replaycheck.ATTACHED}", (str(replayer.path),))
        expected = {} if args.no_streams else rowstream.streamable(replayer.conn)
        worker = chainworker.ChainWorker.start(conn, expected)
        if worker is None:
            raise SystemExit("no worker could be started here")
        conn.execute("BEGIN")
        if not worker.same_snapshot(conn) or not replayer.stream_hashes(conn):
            raise SystemExit("a commit fell between, or the hash rows cannot be streamed")
        replayer.conn.stream.elsewhere = worker.streamed
        began, cpu = time.perf_counter(), time.process_time()
        stopped = replayer.apply_log(conn, skip=worker.skipped_types)
        applied, applied_cpu = time.perf_counter(), time.process_time()
        verdict = worker.verdict()
        waited = time.perf_counter()
        matched = replayer.hashes_matched()
        replayer.finish()
        committed = time.perf_counter()
        problems = replaycheck.compare(conn, replayer.conn, replaycheck.ATTACHED,
                                       skip=replayer.streamed_tables() if matched else ())
        compared = time.perf_counter()
        conn.execute("ROLLBACK")
        conn.execute(f"DETACH DATABASE {replaycheck.ATTACHED}")
    finally:
        replayer.close()
    if verdict is None:
        raise SystemExit("the worker failed")
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    child = resource.getrusage(resource.RUSAGE_CHILDREN)  # the worker, once joined
    print(f"events {verdict.chain.events:,}, chain problems {len(verdict.chain.problems)},"
          f" replay stopped {stopped}, streamed by the worker {worker.streamed}"
          f" (matched {verdict.streams_matched}), hash rows matched {matched},"
          f" table problems {len(problems)}")
    print(f"set-up {began - start:.2f} s; replay here {applied - began:.2f} s"
          f" ({applied_cpu - cpu:.2f} s of CPU); then waited for the worker"
          f" {waited - applied:.2f} s; commit {committed - waited:.2f} s;"
          f" comparison {compared - committed:.2f} s; in all {compared - start:.2f} s,"
          f" the worker {child.ru_utime + child.ru_stime:.2f} s of CPU,"
          f" {verdict.chain.events / (compared - start):,.0f} events/s; {rss} MB here;"
          f" load {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
