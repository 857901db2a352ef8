"""`prov snapshot`: a read-only copy for a team, never written to, verifiable on its own."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import stat
from pathlib import Path

import pytest

from fixtures import media
from provenance.serve import app as serve_app
from tests.conftest import invoke


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture()
def desk(tmp_path: Path) -> tuple[Path, list[str]]:
    """A desk's database with three photos, custody and a claim."""
    db = tmp_path / "desk" / "evidence.db"
    (tmp_path / "desk").mkdir()
    invoke(db, "init", check=True)
    shas = []
    for seed in (1, 2, 3):
        photo = tmp_path / f"photo{seed}.jpg"
        photo.write_bytes(media.jpeg_with_exif(seed))
        out = invoke(db, "add", str(photo), "--case", "north", "--json", by="ana", check=True)
        shas.append(json.loads(out.stdout)[0]["sha256"])
    invoke(db, "custody", "add", shas[0], "--action", "received", "--from", "CSC",
           "--to", "CNN", by="ana", check=True)
    return db, shas


def test_a_snapshot_is_read_verified_and_never_written(desk: tuple[Path, list[str]],
                                                        tmp_path: Path) -> None:
    db, shas = desk
    snap = tmp_path / "team" / "team.db"
    (tmp_path / "team").mkdir()
    run = invoke(db, "snapshot", str(snap), by="lead", check=True)
    assert "read-only" in run.stdout
    checkpoint = snap.with_name("team.db.checkpoint.json")
    doc = json.loads(checkpoint.read_text())
    assert doc["format"] == "prov-checkpoint/1" and doc["events"] > 3

    listed = invoke(snap, "list", "--json", check=True)
    assert sorted(row["sha256"] for row in json.loads(listed.stdout)) == sorted(shas)
    ok = invoke(snap, "verify", "--no-rehash", "--checkpoint", str(checkpoint), check=True)
    assert ok.stdout.startswith("OK")

    before = _sha(snap)
    photo = tmp_path / "photo9.jpg"
    photo.write_bytes(media.jpeg_with_exif(9))
    for args in (("add", str(photo)), ("note", shas[0], "late note"), ("tag", shas[1], "x")):
        refused = invoke(snap, *args, by="bob")
        assert refused.exit_code == 2, refused.stderr
        lines = refused.stderr.strip().splitlines()
        assert len(lines) == 1 and "read-only snapshot" in lines[0] and "lead" in lines[0]
    assert _sha(snap) == before
    assert not Path(str(snap) + "-wal").exists()


def test_the_desk_goes_on_and_the_snapshot_checkpoint_still_holds(
        desk: tuple[Path, list[str]], tmp_path: Path) -> None:
    db, shas = desk
    snap = tmp_path / "team.db"
    invoke(db, "snapshot", str(snap), check=True)
    checkpoint = tmp_path / "team.db.checkpoint.json"
    invoke(db, "tag", shas[2], "reviewed", by="ana", check=True)
    # The desk's log extends the snapshot's: its checkpoint verifies against both.
    assert invoke(db, "verify", "--checkpoint", str(checkpoint), check=True).stdout.startswith("OK")
    events = json.loads(checkpoint.read_text())["events"]
    shown = json.loads(invoke(snap, "log", "--json", check=True).stdout)
    assert len(shown) == events
    assert len(json.loads(invoke(db, "log", "--json", check=True).stdout)) == events + 1


def test_a_signed_snapshot_checkpoint_verifies_with_its_public_key(
        desk: tuple[Path, list[str]], tmp_path: Path) -> None:
    db, _ = desk
    key = tmp_path / "lead.pem"
    invoke(None, "keygen", "--out", str(key), check=True)
    snap = tmp_path / "team.db"
    invoke(db, "snapshot", str(snap), "--key", str(key), check=True)
    run = invoke(snap, "verify", "--no-rehash", "--checkpoint",
                 str(tmp_path / "team.db.checkpoint.json"), "--public-key",
                 str(tmp_path / "lead.pem.pub"), check=True)
    assert run.stdout.startswith("OK")


def test_originals_are_copied_rehashed_and_a_damaged_one_is_named(
        desk: tuple[Path, list[str]], tmp_path: Path) -> None:
    db, shas = desk
    good = tmp_path / "good.db"
    invoke(db, "snapshot", str(good), "--originals", check=True)
    assert invoke(good, "verify", check=True).stdout.startswith("OK")

    stored = db.with_name("evidence.store") / "sha256" / shas[1][:2] / shas[1][2:4] / shas[1]
    os.chmod(stored, stat.S_IRUSR | stat.S_IWUSR)
    stored.write_bytes(stored.read_bytes()[:-10] + b"0123456789")
    snap = tmp_path / "team.db"
    run = invoke(db, "snapshot", str(snap), "--originals")
    assert run.exit_code == 1
    named = [line for line in run.stderr.splitlines() if shas[1] in line]
    assert len(named) == 1 and "not copied" in named[0]
    store = tmp_path / "team.store"
    held = {p.name for p in store.rglob("*") if p.is_file()}
    assert held == {shas[0], shas[2]}
    # The snapshot says what it lacks: its verify names the one original not there.
    check = invoke(snap, "verify")
    assert check.exit_code == 1 and shas[1] in check.stdout + check.stderr


def test_rehashing_a_snapshot_taken_without_originals_says_what_to_do(
        desk: tuple[Path, list[str]], tmp_path: Path) -> None:
    db, _ = desk
    snap = tmp_path / "team.db"
    invoke(db, "snapshot", str(snap), check=True)
    run = invoke(snap, "verify")
    assert run.exit_code == 2 and "--no-rehash" in run.stderr and "--originals" in run.stderr


@pytest.mark.parametrize("target", ["exists", "folder", "itself", "no-folder", "store"])
def test_a_mistyped_target_costs_nothing(desk: tuple[Path, list[str]], tmp_path: Path,
                                         target: str) -> None:
    db, _ = desk
    out = {"exists": tmp_path / "notes.txt", "folder": tmp_path,
           "itself": db, "no-folder": tmp_path / "nowhere" / "team.db",
           "store": tmp_path / "team.db"}[target]
    if target == "exists":
        out.write_text("keep me\n")
    if target == "store":
        (tmp_path / "team.store").mkdir()
    before = sorted(p.name for p in tmp_path.rglob("*"))
    desk_before = _sha(db)
    run = invoke(db, "snapshot", str(out))
    assert run.exit_code == 2
    assert len(run.stderr.strip().splitlines()) == 1 and str(out) in run.stderr
    assert sorted(p.name for p in tmp_path.rglob("*")) == before
    assert _sha(db) == desk_before
    if target == "exists":
        assert out.read_text() == "keep me\n"


def test_a_snapshot_of_a_snapshot_is_refused(desk: tuple[Path, list[str]],
                                            tmp_path: Path) -> None:
    db, _ = desk
    snap = tmp_path / "team.db"
    invoke(db, "snapshot", str(snap), check=True)
    run = invoke(snap, "snapshot", str(tmp_path / "again.db"))
    assert run.exit_code == 2 and "itself a snapshot" in run.stderr
    assert not (tmp_path / "again.db").exists()
    assert not list(tmp_path.glob(".again*"))


def test_datasette_serves_a_snapshot(desk: tuple[Path, list[str]], tmp_path: Path) -> None:
    db, shas = desk
    snap = tmp_path / "team.db"
    invoke(db, "snapshot", str(snap), check=True)
    ds = serve_app.build(snap)
    page = asyncio.run(ds.client.get("/team/items.json?_shape=array"))
    assert page.status_code == 200
    assert sorted(row["sha256"] for row in page.json()) == sorted(shas)
