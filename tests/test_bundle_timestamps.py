"""Bundles carry the RFC 3161 time-stamps of their log; `prov import --tsa-cert` checks them.

A local authority made with openssl (fixtures/tsa.py) answers over loopback HTTP only.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from fixtures import media, tsa

from .conftest import invoke

pytestmark = pytest.mark.skipif(not tsa.available(), reason="needs the openssl command")

CASE = "dprk"


@pytest.fixture(scope="module")
def authority(tmp_path_factory: pytest.TempPathFactory) -> tsa.Authority:
    return tsa.make_authority(tmp_path_factory.mktemp("tsa"))


@pytest.fixture(scope="module")
def stranger(tmp_path_factory: pytest.TempPathFactory) -> tsa.Authority:
    """Another authority: its CA vouches for none of `authority`'s tokens."""
    return tsa.make_authority(tmp_path_factory.mktemp("tsa2"), name="other TSA")


def _db(folder: Path, *, seed: int) -> Path:
    db = folder / "evidence.db"
    folder.mkdir(parents=True)
    invoke(db, "init", check=True)
    files = []
    for i in range(2):
        f = folder / f"{i}.jpg"
        f.write_bytes(media.jpeg_with_exif(seed + i, size=(160, 120)))
        files.append(str(f))
    invoke(db, "add", *files, "--case", CASE, by="ana", check=True)
    return db


@pytest.fixture
def source(tmp_path: Path) -> Path:
    return _db(tmp_path / "ana", seed=500)


@pytest.fixture
def target(tmp_path: Path) -> Path:
    db = tmp_path / "bob" / "evidence.db"
    db.parent.mkdir()
    invoke(db, "init", check=True)
    return db


def _events(db: Path) -> int:
    return len(invoke(db, "log", "--json").json())


def _stamp_checkpoint(db: Path, authority: tsa.Authority, out: Path, *, chain: bool = False
                      ) -> dict:
    with tsa.serve(authority, chain=chain) as url:
        invoke(db, "checkpoint", "--tsa", url, "--out", str(out), by="ana", check=True)
    return json.loads(out.read_text())


def _bundle(db: Path, out: Path, *extra: str) -> Path:
    invoke(db, "bundle", "--case", CASE, "--out", str(out), *extra, by="ana", check=True)
    return out


def _rewrite(bundle: Path, out: Path, member: str, change) -> Path:
    """A copy of `bundle` with one JSON member changed (an unsigned bundle: no signature
    stands in the way, so only the time-stamp checks can catch it)."""
    with zipfile.ZipFile(bundle) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == member:
                doc = json.loads(data)
                change(doc)
                data = json.dumps(doc).encode()
            dst.writestr(info.filename, data)
    return out


def test_a_stamp_recorded_earlier_travels_in_the_bundle_and_verifies_on_import(
        source, target, tmp_path, authority):
    cp = _stamp_checkpoint(source, authority, tmp_path / "cp.json")
    # More work after the stamp: the bundle proves a later head, and the earlier stamp too.
    invoke(source, "add", str(tmp_path / "ana" / "0.jpg"), "--case", "other", by="ana",
           check=True)
    bundle = _bundle(source, tmp_path / "case.zip")
    manifest = json.loads(zipfile.ZipFile(bundle).read("manifest.json"))
    assert [(s["events"], s["head"]) for s in manifest["timestamps"]] == \
        [(cp["events"], cp["head"])]

    run = invoke(target, "import", str(bundle), "--unsigned", "--tsa-cert", str(authority.ca))
    assert run.exit_code == 0, run.output
    gen = cp["timestamp"]["gen_time"]
    assert f"log head {cp['head'][:16]}… existed at {gen} per prov test TSA" in run.stdout
    as_json = invoke(target, "import", str(bundle), "--unsigned", "--tsa-cert",
                     str(authority.ca), "--json").json()
    assert as_json["timestamps"] == "verified" and len(as_json["stamped"]) == 1


def test_bundle_tsa_stamps_its_own_head_and_records_the_stamp(source, target, tmp_path,
                                                              authority):
    before = _events(source)
    with tsa.serve(authority) as url:
        run = invoke(source, "bundle", "--case", CASE, "--out", str(tmp_path / "b.zip"),
                     "--tsa", url, "--tsa-cert", str(authority.ca), by="ana")
    assert run.exit_code == 0, run.output
    assert "time-stamped: log head" in run.stderr and "1 time-stamp(s)" in run.stdout
    checkpoint = json.loads(zipfile.ZipFile(tmp_path / "b.zip").read("checkpoint.json"))
    assert checkpoint["timestamp"]["head"] == checkpoint["head"]
    assert checkpoint["timestamp"]["events"] == checkpoint["events"] == before
    # Recorded at the source as the event after the head it stamps.
    entry = invoke(source, "log", "--json").json()[-1]
    assert entry["type"] == "checkpoint.timestamped" and entry["seq"] == before + 1
    assert invoke(source, "verify", "--tsa-cert", str(authority.ca)).exit_code == 0

    run = invoke(target, "import", str(tmp_path / "b.zip"), "--unsigned",
                 "--tsa-cert", str(authority.ca))
    assert run.exit_code == 0, run.output
    assert f"log head {checkpoint['head'][:16]}… existed at" in run.stdout


def test_an_unsorted_certificate_set_in_a_carried_token_still_verifies(
        source, target, tmp_path, authority):
    # openssl ts -reply -chain writes the CA after the signer: not DER SET OF order.
    _stamp_checkpoint(source, authority, tmp_path / "cp.json", chain=True)
    bundle = _bundle(source, tmp_path / "case.zip")
    run = invoke(target, "import", str(bundle), "--unsigned", "--tsa-cert", str(authority.ca))
    assert run.exit_code == 0, run.output
    assert "existed at" in run.stdout


def test_without_tsa_cert_the_carried_stamps_are_reported_unchecked(source, target, tmp_path,
                                                                     authority):
    _stamp_checkpoint(source, authority, tmp_path / "cp.json")
    bundle = _bundle(source, tmp_path / "case.zip")
    run = invoke(target, "import", str(bundle), "--unsigned")
    assert run.exit_code == 0, run.output
    assert "carries 1 time-stamp(s) of its log, not checked: pass --tsa-cert" in run.stderr


def test_a_token_that_another_ca_vouches_for_refuses_the_whole_import(
        source, target, tmp_path, authority, stranger):
    _stamp_checkpoint(source, authority, tmp_path / "cp.json")
    bundle = _bundle(source, tmp_path / "case.zip")
    before = _events(target)
    run = invoke(target, "import", str(bundle), "--unsigned", "--tsa-cert", str(stranger.ca))
    assert run.exit_code == 1
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and "time-stamp of event" in lines[0]
    assert "does not verify" in lines[0] and "Traceback" not in run.output
    assert _events(target) == before
    assert invoke(target, "list", "--json").json() == []


def test_tsa_cert_with_a_bundle_that_carries_no_stamp_is_refused(source, target, tmp_path,
                                                                 authority):
    bundle = _bundle(source, tmp_path / "case.zip")
    run = invoke(target, "import", str(bundle), "--unsigned", "--tsa-cert", str(authority.ca))
    assert run.exit_code == 1
    assert "carries no time-stamp, but --tsa-cert was given" in run.stderr
    assert _events(target) == 0


def test_a_stamp_of_another_log_moved_into_a_bundle_is_refused(tmp_path, target, authority):
    """A token is genuine but stamps a different database's head: pasted into the manifest
    with the event number of a real head, or with its own head, it is refused either way."""
    one = _db(tmp_path / "one", seed=600)
    two = _db(tmp_path / "two", seed=700)
    foreign = _stamp_checkpoint(two, authority, tmp_path / "two.json")["timestamp"]
    bundle = _bundle(one, tmp_path / "one.zip")
    count = json.loads(zipfile.ZipFile(bundle).read("manifest.json"))["log_events"]

    def paste(doc: dict) -> None:
        doc["timestamps"] = [dict(foreign, events=min(foreign["events"], count))]

    forged = _rewrite(bundle, tmp_path / "forged.zip", "manifest.json", paste)
    run = invoke(target, "import", str(forged), "--unsigned", "--tsa-cert", str(authority.ca))
    assert run.exit_code == 1, run.output
    assert "which is not the bundle's log at that event" in run.stderr
    # Without --tsa-cert too: a stamp that does not fit the chain is a forgery, not a warning.
    run = invoke(target, "import", str(forged), "--unsigned")
    assert run.exit_code == 1 and "not the bundle's log at that event" in run.stderr

    def relabel(doc: dict) -> None:
        # The right head written beside a token that stamps another: the token is checked.
        head = json.loads(zipfile.ZipFile(bundle).read("checkpoint.json"))["head"]
        doc["timestamp"] = dict(foreign, events=doc["events"], head=head)

    forged = _rewrite(bundle, tmp_path / "forged2.zip", "checkpoint.json", relabel)
    run = invoke(target, "import", str(forged), "--unsigned", "--tsa-cert", str(authority.ca))
    assert run.exit_code == 1, run.output
    assert "stamps another log head" in run.stderr
    assert _events(target) == 0


@pytest.mark.parametrize("bad", [
    "not a list", [{"events": 1}], [{"events": 10**9, "head": "0" * 64, "response": "AA=="}],
    [{"events": 1, "head": "zz", "response": "AA=="}], [{"events": True, "head": "0" * 64,
                                                         "response": "AA=="}],
])
def test_malformed_timestamps_in_a_manifest_are_one_line_refusals(source, target, tmp_path,
                                                                  bad):
    bundle = _bundle(source, tmp_path / "case.zip")

    def spoil(doc: dict) -> None:
        doc["timestamps"] = bad

    forged = _rewrite(bundle, tmp_path / "bad.zip", "manifest.json", spoil)
    run = invoke(target, "import", str(forged), "--unsigned")
    assert run.exit_code == 1, run.output
    assert len(run.stderr.strip().splitlines()) == 1 and "refused" in run.stderr
    assert "Traceback" not in run.output and _events(target) == 0


def test_a_signed_bundle_stays_valid_with_its_stamp(source, target, tmp_path, authority):
    key = tmp_path / "ana.pem"
    invoke(None, "keygen", "--out", str(key), check=True)
    with tsa.serve(authority) as url:
        _bundle(source, tmp_path / "s.zip", "--key", str(key), "--tsa", url)
    public = tmp_path / "ana.pem.pub"
    run = invoke(target, "import", str(tmp_path / "s.zip"), "--public-key", str(public),
                 "--tsa-cert", str(authority.ca))
    assert run.exit_code == 0, run.output
    assert "signature verified" in run.stdout and "existed at" in run.stdout
