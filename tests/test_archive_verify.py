"""The 10,000-item version of bench/archive.py, as a test of `prov verify --since`."""

from __future__ import annotations

import importlib.util
import json
import sqlite3
import sys
import time
from pathlib import Path
from types import ModuleType

import pytest

from provenance.ledger import log
from provenance.ledger.db import open_db
from tests.conftest import invoke

# Each test twice: the chain checked inline, and by the worker process.
pytestmark = pytest.mark.usefixtures("verify_path")

ROOT = Path(__file__).resolve().parent.parent
ITEMS = 10_000


def _bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_archive", ROOT / "bench/archive.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("bench_archive", module)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, int]:
    """10,000 items through prov's log, a checkpoint, then about 1,000 events after it."""
    bench = _bench()
    db = tmp_path_factory.mktemp("archive") / "evidence.db"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PROV_INVESTIGATOR", "tester")
        mp.setenv("PROV_CACHE_DIR", str(db.parent / "cache"))
        stats = bench.build(db, ITEMS, real=4)
        cp = db.parent / "cp.json"
        invoke(db, "checkpoint", "--out", str(cp), check=True)
        conn = open_db(db)
        added = bench.add_synthetic(conn, ITEMS, 400, seed=7)
        conn.close()
    assert stats["items"] == ITEMS and added >= 900
    return db, cp, int(stats["events"])


def _copy(db: Path, to: Path) -> Path:
    """The database alone (verify --since re-hashes only the originals added after the
    checkpoint, none here), through SQLite's backup so the write-ahead log comes along."""
    target = to / "evidence.db"
    src, dst = sqlite3.connect(db), sqlite3.connect(target)
    src.backup(dst)
    src.close()
    dst.close()
    return target


def test_the_archive_verifies_in_full_and_incrementally(archive):
    db, cp, before = archive
    full = invoke(db, "verify", "--no-rehash", "--json")
    assert full.exit_code == 0, full.output
    start = time.perf_counter()
    run = invoke(db, "verify", "--since", str(cp), "--json")
    elapsed = time.perf_counter() - start
    doc = run.json()
    assert run.exit_code == 0, run.output
    assert doc["since"]["events"] == before and doc["events"] > before + 900
    # Only the new events, the earlier history of the items they touch (a few, through
    # planted near-duplicates) and the events about no item (actors: what any later event
    # may build on) are replayed, not the 26,000 before the checkpoint.
    conn = sqlite3.connect(db)
    itemless = conn.execute("SELECT COUNT(*) FROM events WHERE item IS NULL AND seq <= ?",
                            (before,)).fetchone()[0]
    conn.close()
    new = doc["events"] - before
    assert new + itemless <= doc["replayed"] < new + itemless + 200
    assert doc["replayed"] < before / 10
    assert full.json()["replayed"] == doc["events"]
    print(f"verify --since: {doc['events'] - before} new events, {doc['replayed']} replayed,"
          f" {elapsed:.2f} s")


def _drop_log_triggers(conn: sqlite3.Connection) -> None:
    for name in ("events_no_update", "events_no_delete", "events_next_seq"):
        conn.execute(f"DROP TRIGGER {name}")


@pytest.mark.parametrize("where", ["before", "after"])
def test_an_event_edited_before_or_after_the_checkpoint_is_caught(archive, tmp_path, where):
    db, cp, before = archive
    copy = _copy(db, tmp_path)
    seq = before // 2 if where == "before" else before + 10
    conn = sqlite3.connect(copy, isolation_level=None)
    _drop_log_triggers(conn)
    body = json.loads(conn.execute("SELECT payload FROM events WHERE seq = ?",
                                   (seq,)).fetchone()[0])
    body["recorded_by"] = "mallory"
    conn.execute("UPDATE events SET payload = ? WHERE seq = ?", (log.canonical(body), seq))
    conn.close()
    run = invoke(copy, "verify", "--since", str(cp), "--full-chain")
    assert run.exit_code == 1
    assert f"event {seq}" in run.stdout and "edited" in run.stdout


@pytest.mark.parametrize("where", ["before", "after"])
def test_a_table_row_changed_before_or_after_the_checkpoint_is_caught(archive, tmp_path,
                                                                      where):
    db, cp, before = archive
    copy = _copy(db, tmp_path)
    conn = sqlite3.connect(copy, isolation_level=None)
    if where == "before":  # a sighting deleted, one invented
        row = conn.execute("SELECT id, item FROM sightings WHERE id < ? ORDER BY id DESC"
                           " LIMIT 1", (before // 2,)).fetchone()
        conn.execute("DELETE FROM sightings WHERE id = ?", (row[0],))
        expected = f"table sightings: row {row[0]} is missing"
    else:  # the camera of an item registered after the checkpoint
        conn.execute("UPDATE items SET make = 'Forged' WHERE registered_event ="
                     " (SELECT MAX(registered_event) FROM items)")
        expected = "column make is 'Forged'"
    conn.close()
    run = invoke(copy, "verify", "--since", str(cp))
    assert run.exit_code == 1 and expected in run.stdout, run.output


def test_a_history_rewritten_before_the_checkpoint_is_caught_without_full_chain(archive,
                                                                               tmp_path):
    """An insider edits an early event and recomputes every hash after it: the chain checks
    from the genesis, but no longer reaches the checkpoint's head."""
    db, cp, before = archive
    copy = _copy(db, tmp_path)
    conn = sqlite3.connect(copy, isolation_level=None)
    _drop_log_triggers(conn)
    seq = before // 3
    body = json.loads(conn.execute("SELECT payload FROM events WHERE seq = ?",
                                   (seq,)).fetchone()[0])
    body["recorded_by"] = "mallory"
    conn.execute("UPDATE events SET payload = ? WHERE seq = ?", (log.canonical(body), seq))
    previous = conn.execute("SELECT chain_hash FROM events WHERE seq = ?",
                            (seq - 1,)).fetchone()[0]
    for n, payload in conn.execute("SELECT seq, payload FROM events WHERE seq >= ?"
                                   " ORDER BY seq", (seq,)).fetchall():
        leaf = log.leaf_hash(payload)
        previous = log.chain_hash(previous, leaf)
        conn.execute("UPDATE events SET leaf_hash = ?, chain_hash = ? WHERE seq = ?",
                     (leaf, previous, n))
    conn.close()
    run = invoke(copy, "verify", "--since", str(cp))
    assert run.exit_code == 1 and "history rewritten" in run.stdout, run.output


def test_a_checkpoint_of_another_database_is_refused_in_one_line(archive, tmp_path):
    db, _, _ = archive
    other = tmp_path / "other.db"
    invoke(other, "init", check=True)
    foreign = tmp_path / "foreign.json"
    invoke(other, "checkpoint", "--out", str(foreign), check=True)
    run = invoke(db, "verify", "--since", str(foreign))
    assert run.exit_code == 2 and run.stdout == ""
    assert len(run.stderr.strip().splitlines()) == 1
    assert "belongs to another database" in run.stderr
