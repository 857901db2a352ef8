"""A payload that orjson reads and writes back byte for byte, but that is not RFC 8785's text,
slipped into a long log with correct hashes: `prov verify` names it, as before orjson."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import orjson
import pytest

from provenance.ledger import log
from provenance.ledger.db import open_db, transaction
from provenance.ledger.event import Event
from tests.conftest import invoke
from tests.hostile.tampering import fill_actors

# Each test twice: the chain checked inline, and by the worker process.
pytestmark = pytest.mark.usefixtures("verify_path")


def _forge_text(db: Path, data: dict[str, Any]) -> int:
    """An actor.created event written by orjson (keys by code point, its own floats), with
    correct leaf and chain hashes, as an insider with another JSON library would."""
    conn = sqlite3.connect(db)
    conn.row_factory = sqlite3.Row
    seq, previous = log.head(conn)
    event = Event(seq + 1, "2026-12-01T00:00:00.000000Z", "mallory", "actor.created", None,
                  {"name": "forged", "kind": "account", "url": None, "note": None, **data})
    payload = orjson.dumps(event.envelope(), option=orjson.OPT_SORT_KEYS).decode("utf-8")
    assert orjson.dumps(orjson.loads(payload), option=orjson.OPT_SORT_KEYS).decode() == payload
    leaf = log.leaf_hash(payload)
    conn.execute("INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                 (event.seq, event.recorded_at, "mallory", "actor.created", None, payload,
                  leaf, log.chain_hash(previous, leaf)))
    conn.commit()
    conn.close()
    return event.seq


@pytest.mark.parametrize("data", [
    {"weight": 1.0},           # orjson "1.0", RFC 8785 "1"
    {"weight": -0.0},          # "-0.0" against "0"
    {"weight": 1.5e-6},        # "1.5e-6" against "0.0000015"
    {"weight": 2e20},          # "2e+20" against "200000000000000000000"
    {"\ue000": 1, "😀": 2},   # code point order; RFC 8785 sorts by UTF-16 units: 😀 first
], ids=["integral", "minus-zero", "small", "large", "astral-key"])
def test_a_payload_orjson_round_trips_but_not_canonical_is_named(tmp_path, data):
    db = tmp_path / "evidence.db"
    fill_actors(db, 300)
    seq = _forge_text(db, data)
    fill_actors(db, 300, first=300)
    run = invoke(db, "verify", "--no-rehash", "--json")
    assert run.exit_code == 1, run.output
    assert run.json()["problems"][:2] == [
        f"event {seq}: payload is unreadable (payload is not canonical JSON)",
        "projections not compared: the log itself is broken"]


def test_the_same_values_written_canonically_verify(tmp_path):
    db = tmp_path / "evidence.db"
    fill_actors(db, 10)
    conn = open_db(db)
    with transaction(conn):
        log.record(conn, "actor.created", {"name": "fine", "kind": "account", "url": None,
                                           "note": None, "weight": 1.5e-6, "zero": -0.0,
                                           "\ue000": 1, "😀": 2}, by="tester")
    conn.close()
    fill_actors(db, 10, first=10)
    run = invoke(db, "verify", "--no-rehash", "--json")
    assert run.exit_code == 0, run.output
