"""The full verify's replay runs on a thread of its own: what it reports is what the inline
replay reported, for logs longer than one hand-over (256 events) too."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from provenance.ledger import log
from provenance.ledger.event import Event
from tests.conftest import invoke
from tests.hostile.tampering import fill_actors

# Each test twice: the chain checked inline, and by the worker process.
pytestmark = pytest.mark.usefixtures("verify_path")


def _forge(db: Path, type_: str, data: dict, item: str | None) -> None:
    """An event with correct hashes but never applied, as an insider editing the file."""
    conn = sqlite3.connect(db)
    conn.row_factory = sqlite3.Row
    seq, previous = log.head(conn)
    event = Event(seq + 1, "2026-12-01T00:00:00.000000Z", "mallory", type_, item, data)
    payload = log.canonical(event.envelope())
    leaf = log.leaf_hash(payload)
    conn.execute("INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                 (event.seq, event.recorded_at, "mallory", type_, item, payload, leaf,
                  log.chain_hash(previous, leaf)))
    conn.commit()
    conn.close()


def _registration(sha: str, **changed: object) -> dict:
    data: dict = {"sha256": sha, "md5": "0" * 32, "size": 1, "mime": "image/jpeg",
                  "kind": "image", "stored": False, "metadata": {}, "raw_metadata": {},
                  "hashes": []}
    data.update(changed)
    return {k: v for k, v in data.items() if v is not ...}


def test_a_sound_long_log_verifies(tmp_path):
    db = tmp_path / "evidence.db"
    fill_actors(db, 700)
    run = invoke(db, "verify", "--no-rehash", "--json")
    assert run.exit_code == 0, run.output
    assert run.json()["replayed"] == 700


def test_the_first_event_that_cannot_be_replayed_is_the_one_named(tmp_path):
    db = tmp_path / "evidence.db"
    fill_actors(db, 600)
    _forge(db, "item.registered", _registration("a" * 64, md5=...), "a" * 64)
    fill_actors(db, 300, first=600)
    _forge(db, "item.registered", _registration("b" * 64, kind=...), "b" * 64)
    run = invoke(db, "verify", "--no-rehash", "--json")
    assert run.exit_code == 1
    assert run.json()["problems"] == ["the log cannot be replayed: 'md5'"]


def test_an_applier_failing_otherwise_is_an_internal_error_not_a_hang(tmp_path):
    db = tmp_path / "evidence.db"
    fill_actors(db, 600)
    _forge(db, "item.registered", _registration("c" * 64, metadata=["not", "an", "object"]),
           "c" * 64)
    fill_actors(db, 600, first=600)
    run = invoke(db, "verify", "--no-rehash")
    assert run.exit_code == 70, run.output
