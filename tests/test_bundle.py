"""Bundles: a case handed from one investigator's database to another's, and refused fakes."""

from __future__ import annotations

import json
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


def _bundle(source: Path, tmp_path: Path, *extra: str) -> Path:
    out = tmp_path / "case.zip"
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


def test_round_trip_merges_without_duplicates_and_records_the_handover(source, target, tmp_path):
    out = _bundle(source, tmp_path)
    with zipfile.ZipFile(out) as zf:
        names = set(zf.namelist())
    assert {"manifest.json", "events.jsonl", "chain.jsonl", "checkpoint.json"} <= names
    assert sum(n.startswith("originals/") for n in names) == 2  # only the case's items

    first = invoke(target, "import", str(out), "--json", by="bob")
    assert first.exit_code == 0, first.output
    summary = json.loads(first.stdout)
    assert summary["new_items"] == 2
    items = json.loads(invoke(target, "list", "--json").stdout)
    assert len(items) == 2 and all(i["cases"] == [CASE] for i in items)
    shared = next(i for i in items if i["sha256"] ==
                  json.loads(invoke(source, "list", "--case", CASE, "--json").stdout)[0]["sha256"])
    chain = json.loads(invoke(target, "custody", "list", shared["sha256"], "--json").stdout)
    actions = [(e["action"], e["from_name"], e["to_name"], e["recorded_by"])
               for e in chain["events"]]
    assert actions == [("shared", "CSCIS", "CNN", "ana"), ("received", "ana", "bob", "bob")]
    assert invoke(target, "verify").exit_code == 0

    again = invoke(target, "import", str(out), "--json", by="bob")
    assert again.exit_code == 0
    assert json.loads(again.stdout)["events_recorded"] == 0
    assert len(json.loads(invoke(target, "list", "--json").stdout)) == 2
    assert len(json.loads(invoke(target, "custody", "list", shared["sha256"], "--json").stdout)[
        "events"]) == 2


def test_an_item_already_held_is_not_duplicated(source, target, tmp_path):
    held = tmp_path / "in" / "0.jpg"
    invoke(target, "add", str(held), by="bob")
    out = _bundle(source, tmp_path)
    summary = json.loads(invoke(target, "import", str(out), "--json", by="bob").stdout)
    assert summary["known_items"] == 1 and summary["new_items"] == 1
    assert len(json.loads(invoke(target, "list", "--json").stdout)) == 2
    assert invoke(target, "verify").exit_code == 0


def test_signed_bundle_is_checked_with_the_senders_key(source, target, tmp_path):
    key = tmp_path / "ana.pem"
    invoke(source, "keygen", "--out", str(key))
    out = _bundle(source, tmp_path, "--key", str(key))
    ok = invoke(target, "import", str(out), "--public-key", f"{key}.pub", by="bob")
    assert ok.exit_code == 0, ok.output
    other = tmp_path / "mallory.pem"
    invoke(source, "keygen", "--out", str(other))
    target2 = tmp_path / "carol.db"
    invoke(target2, "init")
    bad = invoke(target2, "import", str(out), "--public-key", f"{other}.pub")
    assert bad.exit_code == 1 and "signature does not verify" in bad.stderr


def _rewrite(src: Path, dst: Path, change) -> None:
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for info in zin.infolist():
            data = zin.read(info.filename)
            name, data = change(info.filename, data)
            if name is not None:
                zout.writestr(name, data)
        extra = change(None, None)
        if extra[0] is not None:
            zout.writestr(*extra)


def _tampered_original(name, data):
    if name and name.startswith("originals/"):
        return name, data[:-1] + b"\x00"
    return name, data


def _tampered_event(name, data):
    if name == "events.jsonl":
        lines = data.decode().splitlines()
        body = json.loads(lines[0])
        body["recorded_by"] = "mallory"
        from provenance.ledger.log import canonical

        lines[0] = canonical(body)
        return name, ("\n".join(lines) + "\n").encode()
    return name, data


def _truncated_chain(name, data):
    if name == "chain.jsonl":
        return name, b"\n".join(data.splitlines()[:-1]) + b"\n"
    return name, data


def _traversal(name, data):
    if name is None:
        return "../../evil.sh", b"rm -rf /"
    return name, data


def _absolute(name, data):
    if name is None:
        return "/etc/cron.d/evil", b"x"
    return name, data


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (_tampered_original, "hash mismatch"),
        (_tampered_event, "does not match its log"),
        (_truncated_chain, "does not end at its recorded head"),
        (_traversal, "unsafe path"),
        (_absolute, "unsafe path"),
    ],
)
def test_refused_bundles_import_nothing(source, target, tmp_path, change, message):
    good = _bundle(source, tmp_path)
    bad = tmp_path / "bad.zip"
    _rewrite(good, bad, change)
    before = events(target)
    result = invoke(target, "import", str(bad), by="bob")
    assert result.exit_code == 1, result.output
    assert message in result.stderr and "Traceback" not in result.stderr
    assert events(target) == before
    assert json.loads(invoke(target, "list", "--json").stdout) == []
    assert not list((target.parent / "evidence.store").rglob("*")) or all(
        p.is_dir() for p in (target.parent / "evidence.store").rglob("*"))


def test_a_bundle_of_an_unknown_case_is_refused(source, tmp_path):
    result = invoke(source, "bundle", "--case", "nope", "--out", str(tmp_path / "x.zip"))
    assert result.exit_code == 2 and "no items in case" in result.stderr


def test_a_non_zip_is_refused(target, tmp_path):
    junk = tmp_path / "junk.zip"
    junk.write_text("not a zip")
    result = invoke(target, "import", str(junk))
    assert result.exit_code == 1 and "not a readable bundle" in result.stderr
