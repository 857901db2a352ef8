"""Bundles: a case handed from one investigator's database to another's, and refused fakes.

Forged and hostile bundles are in tests/hostile/test_bundles.py; these are the honest ones.
"""

from __future__ import annotations

import json
import os
import stat
import zipfile
from pathlib import Path

import pytest

from fixtures import media

from .conftest import invoke

CASE = "dprk"


@pytest.fixture
def source(tmp_path: Path) -> Path:
    db = tmp_path / "ana" / "evidence.db"
    db.parent.mkdir()
    invoke(db, "init")
    files = []
    for i in range(3):
        f = tmp_path / "in" / f"{i}.jpg"
        f.parent.mkdir(exist_ok=True)
        f.write_bytes(media.jpeg_with_exif(300 + i, size=(160, 120)))
        files.append(f)
    assert invoke(db, "add", *map(str, files[:2]), "--case", CASE, by="ana").exit_code == 0
    assert invoke(db, "add", str(files[2]), "--case", "other", by="ana").exit_code == 0
    sha = json.loads(invoke(db, "list", "--case", CASE, "--json").stdout)[0]["sha256"]
    assert invoke(db, "custody", "add", sha, "--action", "shared", "--from", "CSCIS", "--to", "CNN",
               "--at", "2024-10-18", by="ana").exit_code == 0
    return db


@pytest.fixture
def key(tmp_path: Path) -> Path:
    path = tmp_path / "ana.pem"
    invoke(None, "keygen", "--out", str(path), check=True)
    return path


def _bundle(source: Path, tmp_path: Path, *extra: str, name: str = "case.zip") -> Path:
    out = tmp_path / name
    result = invoke(source, "bundle", "--case", CASE, "--out", str(out), *extra, by="ana")
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture
def target(tmp_path: Path) -> Path:
    db = tmp_path / "bob" / "evidence.db"
    db.parent.mkdir()
    invoke(db, "init")
    return db


def events(db: Path) -> int:
    return len(json.loads(invoke(db, "log", "--json").stdout))


def case_shas(db: Path) -> list[str]:
    return [i["sha256"] for i in json.loads(invoke(db, "list", "--case", CASE, "--json").stdout)]


def test_round_trip_merges_without_duplicates_and_records_the_handover(
        source, target, tmp_path, key):
    out = _bundle(source, tmp_path, "--key", str(key))
    with zipfile.ZipFile(out) as zf:
        names = set(zf.namelist())
        manifest = json.loads(zf.read("manifest.json"))
    assert {"manifest.json", "events.jsonl", "chain.jsonl", "checkpoint.json"} <= names
    assert sum(n.startswith("originals/") for n in names) == 2  # only the case's items
    # The manifest, signed, lists the exact events carried.
    assert manifest["format"] == "prov-bundle/2" and manifest["signature"]["algorithm"] == "ed25519"
    assert len(manifest["events"]) == manifest["events_included"]

    first = invoke(target, "import", str(out), "--public-key", f"{key}.pub", "--json", by="bob")
    assert first.exit_code == 0, first.output
    summary = json.loads(first.stdout)
    assert summary["new_items"] == 2 and summary["signature"] == "verified"
    assert summary["signer"] == (tmp_path / "ana.pem.pub").read_text().strip()
    items = json.loads(invoke(target, "list", "--json").stdout)
    assert len(items) == 2 and all(i["cases"] == [CASE] for i in items)
    shared = case_shas(source)[0]
    chain = json.loads(invoke(target, "custody", "list", shared, "--json").stdout)
    actions = [(e["action"], e["from_name"], e["to_name"], e["recorded_by"])
               for e in chain["events"]]
    assert actions == [("shared", "CSCIS", "CNN", "ana"), ("received", "ana", "bob", "bob")]
    assert invoke(target, "verify").exit_code == 0

    again = invoke(target, "import", str(out), "--public-key", f"{key}.pub", "--json", by="bob")
    assert again.exit_code == 0
    assert json.loads(again.stdout)["events_recorded"] == 0
    assert len(json.loads(invoke(target, "list", "--json").stdout)) == 2
    assert len(json.loads(invoke(target, "custody", "list", shared, "--json").stdout)[
        "events"]) == 2


def test_an_unsigned_bundle_needs_unsigned_and_says_so(source, target, tmp_path):
    out = _bundle(source, tmp_path)
    refused = invoke(target, "import", str(out), by="bob")
    assert refused.exit_code == 2
    assert refused.stderr.count("\n") == 1 and "not signed" in refused.stderr
    assert "--public-key" in refused.stderr and "--unsigned" in refused.stderr
    assert events(target) == 0

    taken = invoke(target, "import", str(out), "--unsigned", by="bob")
    assert taken.exit_code == 0, taken.output
    assert "warning: the bundle is not signed" in taken.stderr
    assert "signature not checked" in taken.stdout
    assert len(json.loads(invoke(target, "list", "--json").stdout)) == 2


def test_a_signed_bundle_without_the_key_is_refused_until_one_is_chosen(
        source, target, tmp_path, key):
    out = _bundle(source, tmp_path, "--key", str(key))
    refused = invoke(target, "import", str(out), by="bob")
    assert refused.exit_code == 2 and "is signed" in refused.stderr
    assert "--public-key" in refused.stderr and "--unsigned" in refused.stderr
    both = invoke(target, "import", str(out), "--unsigned", "--public-key", f"{key}.pub")
    assert both.exit_code == 2 and "not both" in both.stderr
    assert events(target) == 0
    taken = invoke(target, "import", str(out), "--unsigned", by="bob")
    assert taken.exit_code == 0 and "signature was not checked" in taken.stderr


def test_an_item_already_held_is_not_duplicated(source, target, tmp_path):
    held = tmp_path / "in" / "0.jpg"
    invoke(target, "add", str(held), by="bob")
    out = _bundle(source, tmp_path)
    summary = json.loads(invoke(target, "import", str(out), "--unsigned", "--json",
                                by="bob").stdout)
    assert summary["known_items"] == 1 and summary["new_items"] == 1
    assert len(json.loads(invoke(target, "list", "--json").stdout)) == 2
    assert invoke(target, "verify").exit_code == 0


def test_an_item_held_only_by_reference_gets_the_bundled_original(source, target, tmp_path):
    invoke(target, "add", str(tmp_path / "in" / "0.jpg"), "--no-copy", by="bob")
    out = _bundle(source, tmp_path)
    assert invoke(target, "import", str(out), "--unsigned", by="bob").exit_code == 0
    sha = json.loads(invoke(target, "list", "--json").stdout)
    stored = {i["sha256"]: i for i in sha}
    log = json.loads(invoke(target, "log", "--json").stdout)
    assert [e["type"] for e in log].count("item.stored") == 1
    assert all((target.parent / "evidence.store" / "sha256" / s[:2] / s[2:4] / s).is_file()
               for s in stored)
    assert invoke(target, "verify").exit_code == 0


def test_signed_bundle_is_checked_with_the_senders_key(source, target, tmp_path, key):
    out = _bundle(source, tmp_path, "--key", str(key))
    ok = invoke(target, "import", str(out), "--public-key", f"{key}.pub", by="bob")
    assert ok.exit_code == 0, ok.output
    assert "signature verified" in ok.stdout
    other = tmp_path / "mallory.pem"
    invoke(source, "keygen", "--out", str(other))
    target2 = tmp_path / "carol.db"
    invoke(target2, "init")
    bad = invoke(target2, "import", str(out), "--public-key", f"{other}.pub")
    assert bad.exit_code == 1 and "signature does not verify" in bad.stderr


def test_a_sender_named_like_a_case_actor_is_matched_by_identity_never_refused(
        source, target, tmp_path):
    # Issue 12, defect 3: the case names "Ana Petrova"; the bundle's creator is "ana".
    sha = case_shas(source)[1]
    invoke(source, "custody", "add", sha, "--action", "obtained", "--from", "Ana Petrova",
           by="ana", check=True)
    out = _bundle(source, tmp_path)
    result = invoke(target, "import", str(out), "--unsigned", by="bob")
    assert result.exit_code == 0, result.output
    notice = [line for line in result.stderr.splitlines() if line.startswith("notice:")]
    assert len(notice) == 1 and "'ana'" in notice[0] and "Ana Petrova" in notice[0]
    assert "prov actor merge" in notice[0]
    custody = json.loads(invoke(target, "custody", "list", sha, "--json").stdout)["events"]
    assert [(e["action"], e["from_name"]) for e in custody] == [
        ("obtained", "Ana Petrova"), ("received", "ana")]
    # The same sender's next bundle finds its actors again, by their identity in the source.
    invoke(source, "custody", "add", sha, "--action", "archived", "--from", "Ana Petrova",
           by="ana", check=True)
    later = _bundle(source, tmp_path, name="later.zip")
    again = invoke(target, "import", str(later), "--unsigned", "--json", by="bob")
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout)["notices"] == []
    names = [a["name"] for a in json.loads(invoke(target, "actor", "list", "--json").stdout)]
    assert sorted(names) == sorted({"Ana Petrova", "ana", "bob", "CSCIS", "CNN"})


def test_a_later_bundle_brings_a_review_of_a_claim_imported_before(source, target, tmp_path):
    sha = case_shas(source)[0]
    invoke(source, "geo", "claim", sha, "--coords", "44.3, 132.1", "--by", "CNN",
           by="ana", check=True)
    first = _bundle(source, tmp_path)
    assert invoke(target, "import", str(first), "--unsigned", by="bob").exit_code == 0
    claim = json.loads(invoke(source, "show", sha, "--json").stdout)["claims"][0]["id"]
    invoke(source, "geo", "review", str(claim), "--status", "refuted", "--reason", "ridge",
           by="ana", check=True)
    second = _bundle(source, tmp_path, name="second.zip")
    result = invoke(target, "import", str(second), "--unsigned", "--json", by="bob")
    assert result.exit_code == 0, result.output
    claims = json.loads(invoke(target, "show", sha, "--json").stdout)["claims"]
    assert [c["status"] for c in claims] == ["refuted"]
    assert invoke(target, "verify").exit_code == 0


def test_an_honest_no_copy_bundle_imports_and_the_receiver_still_verifies(target, tmp_path):
    # The sender's path is a path on the sender's machine: the receiver must never re-hash
    # whatever sits at that path on its own disk.
    sender = tmp_path / "ana.db"
    invoke(sender, "init", check=True)
    photo = tmp_path / "shared" / "clip.jpg"
    photo.parent.mkdir()
    photo.write_bytes(media.jpeg_with_exif(41, size=(160, 120)))
    invoke(sender, "add", str(photo), "--no-copy", "--case", CASE, by="ana", check=True)
    out = tmp_path / "nocopy.zip"
    invoke(sender, "bundle", "--case", CASE, "--out", str(out), by="ana", check=True)
    photo.write_bytes(media.jpeg_with_exif(42, size=(160, 120)))  # the same path, other bytes
    result = invoke(target, "import", str(out), "--unsigned", by="bob")
    assert result.exit_code == 0, result.output
    verify = invoke(target, "verify", "--json")
    assert verify.exit_code == 0, verify.output
    sha = json.loads(invoke(target, "list", "--json").stdout)[0]["sha256"]
    sighting = json.loads(invoke(target, "show", sha, "--json").stdout)["sightings"][0]
    assert sighting["path"] is None and sighting["file_name"] == "clip.jpg"
    payloads = [e["data"] for e in json.loads(invoke(target, "log", sha, "--json").stdout)]
    assert any(d.get("path_at_source") == str(photo) for d in payloads)


def test_bundle_refuses_when_a_stored_original_is_missing(source, tmp_path):
    sha = case_shas(source)[1]
    stored = source.parent / "evidence.store" / "sha256" / sha[:2] / sha[2:4] / sha
    os.chmod(stored.parent, stat.S_IRWXU)
    stored.unlink()
    out = tmp_path / "case.zip"
    result = invoke(source, "bundle", "--case", CASE, "--out", str(out), by="ana")
    assert result.exit_code == 1 and sha in result.stderr and "missing" in result.stderr
    assert not out.exists() and not list(tmp_path.glob(".case.zip*"))


def test_bundle_refuses_a_stored_original_that_was_modified(source, tmp_path):
    sha = case_shas(source)[0]
    stored = source.parent / "evidence.store" / "sha256" / sha[:2] / sha[2:4] / sha
    os.chmod(stored, stat.S_IRUSR | stat.S_IWUSR)
    stored.write_bytes(stored.read_bytes()[:-1] + b"\x00")
    out = tmp_path / "case.zip"
    result = invoke(source, "bundle", "--case", CASE, "--out", str(out), by="ana")
    assert result.exit_code == 1 and sha in result.stderr and "modified" in result.stderr
    assert not out.exists() and not list(tmp_path.glob(".case.zip*"))


def test_a_bundle_of_an_unknown_case_is_refused(source, tmp_path):
    result = invoke(source, "bundle", "--case", "nope", "--out", str(tmp_path / "x.zip"))
    assert result.exit_code == 2 and "no items in case" in result.stderr


def _old_format(src: Path, dst: Path) -> None:
    """The bundle as prov-bundle/1 wrote it: no event listing, only the checkpoint signed."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for info in zin.infolist():
            data = zin.read(info)
            if info.filename == "manifest.json":
                manifest = json.loads(data)
                for key in ("events", "signature"):
                    manifest.pop(key, None)
                manifest["format"] = "prov-bundle/1"
                data = json.dumps(manifest).encode()
            zout.writestr(info, data)


def test_an_old_format_bundle_is_read_only_as_unsigned(source, target, tmp_path, key):
    old = tmp_path / "old.zip"
    _old_format(_bundle(source, tmp_path, "--key", str(key)), old)
    keyed = invoke(target, "import", str(old), "--public-key", f"{key}.pub", by="bob")
    assert keyed.exit_code == 1 and keyed.stderr.count("\n") == 1
    assert "prov-bundle/1 signs only the source log's head" in keyed.stderr
    bare = invoke(target, "import", str(old), by="bob")
    assert bare.exit_code == 2 and "--unsigned" in bare.stderr
    assert events(target) == 0
    taken = invoke(target, "import", str(old), "--unsigned", by="bob")
    assert taken.exit_code == 0, taken.output
    assert "warning: old bundle format prov-bundle/1: nothing in it is authenticated" in (
        taken.stderr)
    assert len(json.loads(invoke(target, "list", "--json").stdout)) == 2
    assert invoke(target, "verify").exit_code == 0
