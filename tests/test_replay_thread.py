"""The full verify's replay runs on a thread of its own: what it reports is what the inline
replay reported, for logs longer than one hand-over (256 events) too."""

from __future__ import annotations

import pytest

from tests.conftest import invoke
from tests.hostile.tampering import fill_actors, forge

# Each test twice: the chain checked inline, and by the worker process.
pytestmark = pytest.mark.usefixtures("verify_path")


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
    forge(db, "item.registered", "a" * 64, _registration("a" * 64, md5=...))
    fill_actors(db, 300, first=600)
    forge(db, "item.registered", "b" * 64, _registration("b" * 64, kind=...))
    run = invoke(db, "verify", "--no-rehash", "--json")
    assert run.exit_code == 1
    assert run.json()["problems"] == ["the log cannot be replayed: 'md5'"]


def test_an_applier_failing_otherwise_is_an_internal_error_not_a_hang(tmp_path):
    db = tmp_path / "evidence.db"
    fill_actors(db, 600)
    forge(db, "item.registered", "c" * 64,
          _registration("c" * 64, metadata=["not", "an", "object"]))
    fill_actors(db, 600, first=600)
    run = invoke(db, "verify", "--no-rehash")
    assert run.exit_code == 70, run.output
