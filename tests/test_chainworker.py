"""The full verify's second process (ledger/chainworker.py): it reads the snapshot the
verifying connection reads or is not used, its verdict is the inline check's, and the hash
rows sent to it are compared as the inline stream compares them."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from fixtures import media
from provenance.ledger import chainworker, log, replaycheck, rowstream, verify
from provenance.ledger.db import open_db
from provenance.ledger.event import Event
from tests.conftest import invoke
from tests.hostile.tampering import fill_actors, raw


@pytest.fixture
def photos(db: Path, tmp_path: Path) -> Path:
    folder = tmp_path / "in"
    folder.mkdir()
    for i in range(3):
        (folder / f"{i}.jpg").write_bytes(media.jpeg_with_exif(900 + i, size=(160, 120)))
    assert invoke(db, "add", str(folder), "--no-ocr").exit_code == 0
    fill_actors(db, 40)
    return db


def _reading(db: Path) -> sqlite3.Connection:
    return open_db(db, write=False)


def _beside(conn: sqlite3.Connection) -> tuple[log.ChainReport | None, bool | None]:
    """What verify's worker path reports on `conn`'s database: its chain report (None when
    it would leave the decision to the inline replay) and whether the hash rows matched."""
    replayer = replaycheck.Replayer(verify._statements())
    try:
        worker = chainworker.ChainWorker.start(
            conn, rowstream.streamable(replayer.conn))
        assert worker is not None, "no worker on a database file on Linux"
        assert worker.streamed == ("sightings", "custody")
        conn.execute("BEGIN")
        assert worker.same_snapshot(conn)
        assert replayer.stream_hashes(conn)
        replayer.conn.stream.elsewhere = worker.streamed
        chain = verify._replay_beside(conn, replayer, worker)
        matched = replayer.hashes_matched()
        conn.execute("ROLLBACK")
        return chain, matched
    finally:
        replayer.close()


def test_the_workers_report_is_the_inline_checks(photos):
    conn = _reading(photos)
    chain, matched = _beside(conn)
    inline = log.check_chain(conn, on_event=lambda _event: None)
    assert chain is not None and matched is True
    assert (chain.events, chain.head, chain.problems) == (inline.events, inline.head, [])
    assert chain.events == conn.execute("SELECT COUNT(*) FROM events").fetchone()[0] > 40


def test_a_hash_row_edited_in_place_is_not_matched_by_the_worker(photos):
    conn = raw(photos)
    conn.execute("UPDATE hashes SET value = zeroblob(32) WHERE id = 5")
    conn.close()
    chain, matched = _beside(_reading(photos))
    assert chain is not None and not chain.problems
    assert matched is False  # then verify replays again, rows inserted, and names it


def test_a_payload_edited_after_the_replay_read_it_is_the_chain_checks_problem(photos):
    """The replay applies events before they are checked: an edited payload whose applier
    would raise is never raised, as inline (which never hands it over)."""
    conn = raw(photos)
    conn.execute("DROP TRIGGER events_no_update")
    seq, payload = conn.execute(
        "SELECT seq, payload FROM events WHERE type = 'item.registered' LIMIT 1").fetchone()
    body = json.loads(payload)
    body["data"]["metadata"] = ["not an object"]  # the applier's metadata.get would raise
    edited = log.canonical(body)
    conn.execute("UPDATE events SET payload = ? WHERE seq = ?", (edited, seq))
    conn.close()
    chain, _ = _beside(_reading(photos))
    assert chain is not None
    assert chain.problems == [f"event {seq} (item.registered): payload does not match its hash"
                              " (edited)"]


def test_a_commit_between_the_two_readings_stops_the_worker(photos):
    conn = _reading(photos)
    worker = chainworker.ChainWorker.start(conn)
    assert worker is not None
    fill_actors(photos, 1, first=40)  # another connection commits after the worker began
    conn.execute("BEGIN")
    try:
        assert not worker.same_snapshot(conn)
    finally:
        worker.stop()
        conn.execute("ROLLBACK")


def test_an_applier_raising_on_a_sound_log_is_raised_as_inline(photos, monkeypatch):
    """A forged event (correct hashes) an applier fails on otherwise than a replay error:
    the worker path leaves it to the inline replay, which raises it (exit 70)."""
    conn = sqlite3.connect(photos)
    conn.row_factory = sqlite3.Row
    seq, previous = log.head(conn)
    data = {"sha256": "c" * 64, "md5": "0" * 32, "size": 1, "mime": "image/jpeg",
            "kind": "image", "stored": False, "metadata": ["not", "an", "object"],
            "raw_metadata": {}, "hashes": []}
    event = Event(seq + 1, "2026-12-01T00:00:00.000000Z", "mallory", "item.registered",
                  "c" * 64, data)
    payload = log.canonical(event.envelope())
    leaf = log.leaf_hash(payload)
    conn.execute("INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                 (event.seq, event.recorded_at, "mallory", event.type, event.item, payload,
                  leaf, log.chain_hash(previous, leaf)))
    conn.commit()
    conn.close()
    chain, _ = _beside(_reading(photos))
    assert chain is None
    monkeypatch.setattr(chainworker, "WORKER_ABOVE", 0)
    monkeypatch.setattr(chainworker, "WORKER_LOAD_BELOW", float("inf"))
    with pytest.raises(AttributeError):
        verify.verify(_reading(photos), plan=verify.Plan(rehash="none"))


def test_a_worker_only_for_a_long_log_with_a_core_to_spare(monkeypatch):
    monkeypatch.setattr(chainworker, "WORKER_ABOVE", 1000)
    monkeypatch.setattr(chainworker, "WORKER_LOAD_BELOW", float("inf"))
    assert chainworker.wanted(1001) and not chainworker.wanted(1000)
    monkeypatch.setattr(chainworker, "WORKER_LOAD_BELOW", 0.0)  # busier than any machine
    assert not chainworker.wanted(10**9)
    monkeypatch.setenv("PROV_VERIFY_WORKER", "always")
    assert chainworker.wanted(1)
    monkeypatch.setenv("PROV_VERIFY_WORKER", "never")
    monkeypatch.setattr(chainworker, "WORKER_LOAD_BELOW", float("inf"))
    assert not chainworker.wanted(10**9)
