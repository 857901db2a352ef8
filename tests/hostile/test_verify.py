"""`prov verify` under attack and faults: one snapshot, the schema in full, the whole store,
repair by re-adding, and read-only media."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from fixtures import media
from provenance.ledger import log
from provenance.ledger.db import connect, store_dir, transaction
from tests.conftest import invoke
from tests.hostile.tampering import raw

# Each test twice: the chain checked inline, and by the worker process.
pytestmark = pytest.mark.usefixtures("verify_path")


def _photos(folder: Path, count: int, seed: int = 300) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        path = folder / f"{i:03}.jpg"
        path.write_bytes(media.jpeg_with_exif(seed + i, size=(96, 72)))
        paths.append(path)
    return paths


def _stored(db: Path, data: bytes) -> Path:
    sha = hashlib.sha256(data).hexdigest()
    return store_dir(db) / "sha256" / sha[:2] / sha[2:4] / sha



# One snapshot --------------------------------------------------------------------------------

def test_verify_during_a_concurrent_add_never_reports_rows_inserted_by_hand(db, tmp_path):
    folder = tmp_path / "batch"
    _photos(folder, 120)
    env = {**os.environ, "PROV_INVESTIGATOR": "writer"}
    writer = subprocess.Popen([sys.executable, "-m", "provenance", "--db", str(db), "add",
                               str(folder)], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE)
    runs = []
    try:
        while writer.poll() is None and len(runs) < 40:
            runs.append(invoke(db, "verify", "--json"))
    finally:
        out, err = writer.communicate(timeout=300)
    assert writer.returncode == 0, err.decode()
    during = [r for r in runs if r.json()["events"] not in (0, 240)]
    assert len(during) >= 3, "verify must run while the writer is mid-batch"
    for run in runs:
        doc = run.json()
        assert run.exit_code == 0 and doc["ok"], doc["problems"]
    assert invoke(db, "verify").exit_code == 0


# The schema in full ------------------------------------------------------------------------------

def test_a_same_named_trigger_that_never_fires_fails_verify(prov, db, tmp_path):
    _photos(tmp_path / "in", 2)
    assert prov("add", str(tmp_path / "in")).exit_code == 0
    conn = raw(db)
    conn.execute("DROP TRIGGER events_no_update")
    conn.execute("CREATE TRIGGER events_no_update BEFORE UPDATE ON events WHEN 0"
                 " BEGIN SELECT 1; END")
    conn.execute("UPDATE events SET recorded_by = recorded_by WHERE seq = 1")  # it lets it
    run = prov("verify")
    assert run.exit_code == 1
    assert "events_no_update differ from the migrations" in run.stdout


def test_a_view_rewritten_under_its_name_and_an_extra_trigger_fail_verify(prov, db):
    conn = raw(db)
    view, sql = conn.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'view' ORDER BY name").fetchone()
    conn.execute(f"DROP VIEW {view}")
    conn.execute(f"CREATE VIEW {view} AS SELECT 1 AS x")
    conn.execute("CREATE TRIGGER sightings_quiet AFTER INSERT ON sightings"
                 " BEGIN SELECT 1; END")
    run = prov("verify")
    assert run.exit_code == 1
    assert f"{view} differ from the migrations" in run.stdout
    assert "sightings_quiet not created by any migration" in run.stdout
    conn.execute(f"DROP VIEW {view}")
    conn.execute(sql)
    conn.execute("DROP TRIGGER sightings_quiet")
    assert prov("verify").exit_code == 0


# The whole store ---------------------------------------------------------------------------

def test_an_original_no_item_names_fails_verify(prov, db, tmp_path):
    """As after a deleted WAL file took committed items with it: their originals remain."""
    assert prov("verify").exit_code == 0
    stray = media.jpeg_with_exif(911, size=(96, 72))
    target = _stored(db, stray)
    target.parent.mkdir(parents=True)
    target.write_bytes(stray)
    run = prov("verify")
    assert run.exit_code == 1 and "no item names it" in run.stdout and target.name in run.stdout


def test_an_interrupted_registration_is_a_warning_and_adding_again_settles_it(prov, db,
                                                                              tmp_path):
    from provenance.ledger.evidence import EvidenceStore

    photo = _photos(tmp_path / "in", 1)[0]
    data = photo.read_bytes()
    sha = hashlib.sha256(data).hexdigest()
    conn = connect(db)
    store = EvidenceStore.beside(conn)
    # What a `prov add` killed between storing the original and committing leaves behind.
    store.put(str(photo), sha)
    run = prov("verify")
    assert run.exit_code == 0 and "under way or was interrupted" in run.stdout
    assert prov("add", str(photo)).exit_code == 0
    run = prov("verify")
    assert run.exit_code == 0 and "interrupted" not in run.stdout


def test_a_symlinked_original_fails_verify_even_with_the_right_bytes(prov, db, tmp_path):
    photo = _photos(tmp_path / "in", 1)[0]
    assert prov("add", str(photo)).exit_code == 0
    stored = _stored(db, photo.read_bytes())
    elsewhere = tmp_path / "elsewhere.jpg"
    shutil.copyfile(stored, elsewhere)
    os.chmod(stored.parent, 0o755)
    stored.unlink()
    stored.symlink_to(elsewhere)
    run = prov("verify")
    assert run.exit_code == 1
    assert "is a symbolic link, not the stored bytes" in run.stdout


def test_an_original_larger_than_registered_fails_verify(prov, db, tmp_path):
    """A forged registration (as a bundle could carry) declaring fewer bytes than it stores."""
    data = media.jpeg_with_exif(515, size=(96, 72))
    sha = hashlib.sha256(data).hexdigest()
    target = _stored(db, data)
    target.parent.mkdir(parents=True)
    target.write_bytes(data)
    conn = connect(db)
    with transaction(conn):
        log.record(conn, "item.registered", {
            "sha256": sha, "md5": hashlib.md5(data).hexdigest(), "size": 10,
            "mime": "image/jpeg", "kind": "image", "stored": True, "metadata": {},
            "raw_metadata": {}, "hashes": [],
        }, by="forger", item=sha)
    run = prov("verify")
    assert run.exit_code == 1
    assert f"is {len(data)} bytes, registered as 10" in run.stdout


# Repair by re-adding ---------------------------------------------------------------------------

@pytest.mark.parametrize("damage", ["modified", "missing"])
def test_adding_the_genuine_bytes_again_restores_the_stored_original(prov, db, tmp_path,
                                                                     damage):
    photo = _photos(tmp_path / "in", 1)[0]
    assert prov("add", str(photo)).exit_code == 0
    stored = _stored(db, photo.read_bytes())
    os.chmod(stored, 0o644)
    if damage == "missing":
        stored.unlink()
    else:
        stored.write_bytes(stored.read_bytes()[:-10] + b"tampered!!")
    assert prov("verify").exit_code == 1
    run = prov("add", str(photo), "--json")
    assert run.exit_code == 0, run.output
    assert run.json()[0]["status"] == "known"
    assert f"the stored original was {damage}: restored" in run.stderr
    assert stored.read_bytes() == photo.read_bytes()
    events = invoke(db, "log", "--json").json()
    restored = [e for e in events if e["type"] == "item.restored"]
    assert len(restored) == 1 and restored[0]["data"]["damage"] == damage
    assert prov("verify").exit_code == 0
    # Whole again: adding once more restores nothing.
    prov("add", str(photo))
    assert len([e for e in invoke(db, "log", "--json").json()
                if e["type"] == "item.restored"]) == 1
