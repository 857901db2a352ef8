"""Opening and migrating the database, concurrent writers, and surviving a crash."""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fixtures import media
from provenance.ledger.db import migrations, open_db

EXPECTED_SCHEMA = {
    "_migrations": ["name", "applied_at"],
    "meta": ["key", "value"],
    "events": ["seq", "recorded_at", "recorded_by", "type", "item", "payload", "leaf_hash",
               "chain_hash"],
    "items": ["sha256", "md5", "size", "mime", "kind", "stored", "registered_at",
              "registered_by", "registered_event", "width", "height", "captured_at",
              "captured_offset", "make", "model", "software", "orientation", "gps_latitude",
              "gps_longitude", "gps_altitude", "duration_seconds", "frame_rate", "codec",
              "page_count", "metadata_json", "raw_metadata_json"],
    "sightings": ["id", "item", "path", "file_name", "file_name_hex", "source_url",
                  "case_name", "title", "note", "recorded_at", "recorded_by", "seen_at",
                  "page_url", "origin_json"],
    "hashes": ["id", "item", "algorithm", "region", "frame_seconds", "page", "value",
               "quality"],
    "near_duplicates": ["id", "item", "other", "algorithm", "distance", "verdict",
                        "detail_json", "recorded_at", "recorded_by"],
    "actors": ["id", "name", "kind", "url", "note", "recorded_at", "recorded_by"],
    "custody": ["id", "item", "action", "from_actor", "to_actor", "at_text", "at_precision",
                "at_approximate", "at_earliest", "at_latest", "url", "note", "asserted_by",
                "recorded_at", "recorded_by"],
    "claims": ["id", "item", "latitude", "longitude", "radius_m", "place", "place_geonameid",
               "claimant", "method", "confidence", "source_url", "note", "status",
               "recorded_at", "recorded_by"],
    "claim_reviews": ["id", "claim", "status", "reason", "recorded_at", "recorded_by"],
    "timestamps": ["id", "events", "head", "gen_time", "tsa", "tsa_name", "serial", "policy",
                   "response", "recorded_at", "recorded_by"],
    "captures": ["id", "archive", "url", "final_url", "status", "page_sha256", "captured_at",
                 "gone", "changed", "record_json", "recorded_at", "recorded_by"],
    "capture_files": ["id", "capture", "item", "role", "url", "status"],
    # 0013_workflow (issue 15)
    "status_changes": ["id", "item", "status", "assignee", "note", "recorded_at", "recorded_by"],
    "item_reviews": ["id", "item", "decision", "reason", "submitted_by", "submitted_at",
                     "recorded_at", "recorded_by"],
    "incidents": ["id", "name", "at_text", "at_precision", "at_approximate", "at_earliest",
                  "at_latest", "latitude", "longitude", "radius_m", "place", "place_geonameid",
                  "note", "recorded_at", "recorded_by"],
    "incident_items": ["id", "incident", "item", "recorded_at", "recorded_by"],
    "incident_relations": ["id", "incident", "other", "recorded_at", "recorded_by"],
    "flag_changes": ["id", "item", "flag", "action", "note", "recorded_at", "recorded_by"],
    # issue 14 (migration 0012_corrections)
    "retractions": ["id", "event", "event_type", "item", "reason", "recorded_at",
                    "recorded_by"],
    "corrections": ["id", "event", "corrects", "item", "changed", "reason", "recorded_at",
                    "recorded_by"],
    "withdrawals": ["id", "item", "reason", "recorded_at", "recorded_by"],
    "reclassifications": ["id", "item", "kind", "previous_kind", "reason", "recorded_at",
                          "recorded_by"],
    "item_names": ["id", "item", "name", "recorded_at", "recorded_by"],
    "item_notes": ["id", "item", "text", "recorded_at", "recorded_by"],
    "item_tags": ["id", "item", "tag", "removed_by", "recorded_at", "recorded_by"],
    "actor_aliases": ["id", "actor", "alias", "how", "recorded_at", "recorded_by"],
    "actor_merges": ["id", "actor", "into_actor", "reason", "recorded_at", "recorded_by"],
    "search_state": ["source", "max_id"],
    "fixity_checks": ["item", "event", "result"],
    "page_text": ["item_id", "page", "source", "text", "engine", "engine_version", "languages",
                  "event_id", "recorded_at", "recorded_by"],
    "item_analyses": ["item", "state", "registered_event", "event", "hashes", "error",
                      "recorded_at", "recorded_by"],
}


def test_a_blank_database_migrates_to_exactly_this_schema(tmp_path):
    conn = open_db(tmp_path / "blank.db", create=True)
    tables = {
        name: [c[1] for c in conn.execute(f"PRAGMA table_info({name})")]
        for (name,) in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            " AND name NOT LIKE '%_fts%' AND name NOT LIKE 'search_fts_index%'")
    }
    assert tables == EXPECTED_SCHEMA
    # prov search's index (FTS5 with its shadow tables): trigrams, for every script.
    index = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'search_fts_index'").fetchone()
    assert "tokenize = 'trigram'" in index[0]
    triggers = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='trigger'")}
    assert {"events_no_update", "events_no_delete", "events_next_seq", "meta_no_update",
            "meta_no_delete"} <= triggers
    assert [r[0] for r in conn.execute("SELECT name FROM _migrations ORDER BY name")][0] == (
        "0001_schema")


def test_open_sets_wal_foreign_keys_and_a_busy_timeout(tmp_path):
    conn = open_db(tmp_path / "x.db", create=True)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert conn.execute("PRAGMA busy_timeout").fetchone()[0] >= 10_000
    # Opening again migrates nothing twice.
    again = open_db(tmp_path / "x.db")
    assert again.execute("SELECT COUNT(*) FROM _migrations").fetchone()[0] == len(migrations())
    assert again.execute("SELECT COUNT(*) FROM meta WHERE key = 'database_id'").fetchone()[0] == 1


def test_a_file_that_is_not_a_database_is_refused_clearly(tmp_path):
    from typer.testing import CliRunner

    from provenance.cli import app

    bogus = tmp_path / "notes.db"
    bogus.write_text("not sqlite at all " * 100)
    result = CliRunner().invoke(app, ["--db", str(bogus), "list"])
    assert result.exit_code == 1 and "not a prov database" in result.stderr
    assert "Traceback" not in result.stderr


def _prov(db: Path, *args: str, **kw) -> subprocess.Popen:
    env = {**os.environ, "PROV_INVESTIGATOR": "worker"}
    return subprocess.Popen([sys.executable, "-m", "provenance", "--db", str(db), *args],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)


def test_four_processes_adding_at_once_all_land_and_verify(db, tmp_path):
    folders = []
    for p in range(4):
        folder = tmp_path / f"batch{p}"
        folder.mkdir()
        for i in range(25):
            (folder / f"{i:02}.jpg").write_bytes(
                media.jpeg_with_exif(1000 + p * 100 + i, size=(96, 72)))
        folders.append(folder)
    procs = [_prov(db, "add", str(f)) for f in folders]
    for proc in procs:
        _, stderr = proc.communicate(timeout=300)
        assert proc.returncode == 0, stderr.decode()
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT COUNT(*) FROM items").fetchone()[0] == 100
    # Two events per item; a "similar" relation between two of the photos may add more.
    assert conn.execute("SELECT COUNT(*) FROM events WHERE type IN"
                        " ('item.registered', 'sighting.recorded')").fetchone()[0] == 200
    assert conn.execute("SELECT COUNT(*) FROM near_duplicates WHERE verdict = 're-upload'"
                        ).fetchone()[0] == 0
    verify = _prov(db, "verify")
    out, err = verify.communicate(timeout=300)
    assert verify.returncode == 0, out.decode() + err.decode()


def test_a_killed_batch_leaves_only_whole_items_and_a_log_that_verifies(db, tmp_path):
    folder = tmp_path / "big"
    folder.mkdir()
    for i in range(120):
        (folder / f"{i:03}.jpg").write_bytes(media.jpeg_with_exif(5000 + i, size=(96, 72)))
    proc = _prov(db, "add", str(folder), start_new_session=True)
    conn = sqlite3.connect(db, timeout=30)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if conn.execute("SELECT COUNT(*) FROM items").fetchone()[0] >= 10:
            break
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    items = conn.execute("SELECT COUNT(*) FROM items").fetchone()[0]
    assert 10 <= items < 120, "the kill must land in the middle of the batch"
    # Every item is whole: its sighting is there and so is its stored original.
    assert conn.execute("SELECT COUNT(*) FROM items WHERE sha256 NOT IN"
                        " (SELECT item FROM sightings)").fetchone()[0] == 0
    verify = _prov(db, "verify", "--json")
    out, err = verify.communicate(timeout=300)
    assert verify.returncode == 0, out.decode() + err.decode()
    # And the batch can simply be run again: the rest goes in, nothing twice.
    again = _prov(db, "add", str(folder))
    again.communicate(timeout=300)
    assert conn.execute("SELECT COUNT(*) FROM items").fetchone()[0] == 120


def test_old_staged_copies_left_by_a_killed_process_are_swept(prov, db, tmp_path):
    staging = db.parent / "evidence.store" / "sha256" / "incoming"
    staging.mkdir(parents=True)
    old, young = staging / ".incoming-old", staging / ".incoming-young"
    old.write_bytes(b"half a file")
    young.write_bytes(b"another add is writing this")
    os.utime(old, (time.time() - 3 * 86_400,) * 2)
    photo = tmp_path / "a.jpg"
    photo.write_bytes(media.jpeg_with_exif(77, size=(96, 72)))
    assert prov("add", str(photo)).exit_code == 0
    assert not old.exists() and young.exists()


# Read-only media ---------------------------------------------------------------------------

READ_COMMANDS = [("list",), ("show", "{item}"), ("log",), ("verify",), ("match", "{item}"),
                 ("export", "{item}", "--format", "json"), ("custody", "list", "{item}"),
                 ("geo", "check", "{item}")]


def _case(db: Path, tmp_path: Path) -> str:
    """A database with an item, a custody event and a claim; returns the item's hash."""
    from tests.conftest import invoke

    photo = tmp_path / "photo.jpg"
    photo.write_bytes(media.jpeg_with_exif(4242, size=(160, 120)))
    sha = invoke(db, "add", str(photo), "--json", check=True).json()[0]["sha256"]
    invoke(db, "custody", "add", sha, "--action", "received", "--from", "Source A",
           check=True)
    invoke(db, "geo", "claim", sha, "--coords", "44.1, 131.2", check=True)
    return str(sha)


def _commands(sha: str) -> list[list[str]]:
    return [[arg.format(item=sha) for arg in command] for command in READ_COMMANDS]


def test_read_commands_leave_a_vacuum_into_snapshot_byte_for_byte_as_it_was(db, tmp_path):
    from provenance.ledger.db import store_dir
    from tests.conftest import invoke

    sha = _case(db, tmp_path)
    snapshot = tmp_path / "snapshot.db"
    sqlite3.connect(db).execute(f"VACUUM INTO '{snapshot}'")
    shutil.copytree(store_dir(db), store_dir(snapshot))
    before = snapshot.read_bytes()
    for command in _commands(sha):
        run = invoke(snapshot, *command)
        assert run.exit_code == 0, f"prov {' '.join(command)}: {run.output}"
    # Not even the journal mode changed: the snapshot is still what was handed over.
    assert snapshot.read_bytes() == before
    assert not Path(f"{snapshot}-wal").exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores file modes (the bind-mount test"
                    " below covers root)")
def test_read_commands_work_on_read_only_files_and_a_write_says_read_only(db, tmp_path):
    from tests.conftest import invoke

    sha = _case(db, tmp_path)
    folder = db.parent
    for path in folder.rglob("*"):
        path.chmod(0o555 if path.is_dir() else 0o444)
    folder.chmod(0o555)
    try:
        for command in _commands(sha):
            run = invoke(db, *command)
            assert run.exit_code == 0, f"prov {' '.join(command)}: {run.output}"
        run = invoke(db, "custody", "add", sha, "--action", "received", "--from", "B")
        assert run.exit_code == 1 and "read-only" in run.stderr
        assert len(run.stderr.strip().splitlines()) == 1
    finally:
        for path in [folder, *folder.rglob("*")]:
            path.chmod(0o755 if path.is_dir() else 0o644)


def _can_bind_read_only() -> bool:
    if not shutil.which("unshare"):
        return False
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        probe = subprocess.run(
            ["unshare", "-rm", "sh", "-c", f"mount --bind -o ro {folder} {folder}"],
            capture_output=True)
    return probe.returncode == 0


@pytest.mark.skipif(not _can_bind_read_only(), reason="needs `unshare -rm` for a read-only"
                    " bind mount")
@pytest.mark.parametrize("leftover_wal", [False, True])
def test_read_commands_work_on_a_write_blocked_drive_even_as_root(db, tmp_path, leftover_wal):
    """A read-only bind mount refuses writes to everyone, root included (EROFS)."""
    sha = _case(db, tmp_path)
    if leftover_wal:
        # Copied off a live machine: the write-ahead log and its index come along.
        conn = sqlite3.connect(db, isolation_level=None)
        conn.execute("PRAGMA wal_autocheckpoint = 0")
        conn.execute("INSERT INTO meta VALUES ('note', 'in the WAL only')")
        assert Path(f"{db}-wal").stat().st_size > 0
    else:
        sqlite3.connect(db).execute("PRAGMA wal_checkpoint(TRUNCATE)")
        for leftover in (Path(f"{db}-wal"), Path(f"{db}-shm")):
            leftover.unlink(missing_ok=True)
    folder = db.parent
    outside = tmp_path.parent / f"{tmp_path.name}-results"  # written outside the mount
    outside.mkdir()
    prov = f"{sys.executable} -m provenance --db {db}"
    lines = [f"mount --bind -o ro {folder} {folder} || exit 99"]
    for i, command in enumerate(_commands(sha)):
        lines.append(f"{prov} {' '.join(command)} > {outside}/out{i} 2>&1; echo $? >> "
                     f"{outside}/codes")
    lines.append(f"{prov} custody add {sha} --action received --from B 2> {outside}/write;"
                 f" echo $? > {outside}/write_code")
    subprocess.run(["unshare", "-rm", "sh", "-c", "\n".join(lines)], timeout=600, check=True,
                   env={**os.environ, "PROV_INVESTIGATOR": "tester"})
    codes = (outside / "codes").read_text().split()
    for i, (command, code) in enumerate(zip(_commands(sha), codes, strict=True)):
        assert code == "0", f"prov {' '.join(command)}: {(outside / f'out{i}').read_text()}"
    write = (outside / "write").read_text()
    assert (outside / "write_code").read_text().strip() == "1"
    assert "read-only" in write and len(write.strip().splitlines()) == 1, write
