"""C2PA content credentials: read on ingest, judged offline, shown in plain words."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from fixtures import credentials, media

from .conftest import invoke

DATA = Path(__file__).parent / "data" / "c2pa"
ANCHORS = DATA / "test-anchors.pem"


def _add(db: Path, *paths: Path, trust: Path | None = None) -> dict[str, dict]:
    args = ["add", *map(str, paths), "--json"]
    if trust is not None:
        args += ["--c2pa-trust", str(trust)]
    run = invoke(db, *args)
    assert run.exit_code == 0, run.output
    return {Path(r["path"]).name: r for r in run.json()}


def _credential(db: Path, sha: str) -> dict:
    return invoke(db, "show", sha[:12], "--json", check=True).json()["metadata"]["c2pa"]


def test_each_sample_file_gives_its_state_and_codes(db, tmp_path):
    names = ["C.jpg", "A.jpg", "XCA.jpg", "E-sig-CA.jpg", "pdf-file.pdf"]
    added = _add(db, *(DATA / n for n in names), trust=ANCHORS)
    got = {n: _credential(db, added[n]["sha256"]) for n in names}

    assert got["C.jpg"]["state"] == "trusted" and got["C.jpg"]["codes"] == []
    assert got["C.jpg"]["signer"] == "C2PA Signer"
    assert got["C.jpg"]["issuer"] == "C2PA Test Signing Cert"
    assert got["C.jpg"]["signed_at"] == "2023-09-29T17:40:14+00:00"
    assert got["C.jpg"]["claim_generator"] == "make_test_images/0.26.0 c2pa-rs/0.26.0"
    assert got["C.jpg"]["trust_list"]["anchors"] == 9

    assert got["A.jpg"]["state"] == "none" and "codes" not in got["A.jpg"]

    assert got["XCA.jpg"]["state"] == "invalid"
    assert "assertion.dataHash.mismatch" in got["XCA.jpg"]["codes"]
    assert got["E-sig-CA.jpg"]["state"] == "invalid"
    assert "claimSignature.mismatch" in got["E-sig-CA.jpg"]["codes"]
    # The data hash of the bad-signature file is fine: its codes name only the signature.
    assert "assertion.dataHash.mismatch" not in got["E-sig-CA.jpg"]["codes"]

    pdf = got["pdf-file.pdf"]
    assert pdf["state"] == "valid" and pdf["codes"] == ["signingCredential.untrusted"]
    assert pdf["signer"] == "cai-prod" and pdf["issuer"] == "Adobe Inc."
    assert pdf["ai_generated"] is True
    assert pdf["ai_declaration"].startswith("declared AI-generated")
    assert pdf["claim_generator"].startswith("Adobe_Express")
    assert len(pdf["ingredients"]) == 2

    # Without a trust list nothing is trusted, however valid.
    other = tmp_path / "other.db"
    invoke(other, "init", check=True)
    c = _add(other, DATA / "C.jpg")["C.jpg"]
    plain = _credential(other, c["sha256"])
    assert plain["state"] == "valid" and plain["codes"] == ["signingCredential.untrusted"]
    assert "trust_list" not in plain

    # The facet view counts them; `prov verify` replays them.
    from provenance.ledger.db import open_db

    conn = open_db(db)
    states = dict(conn.execute("SELECT credential, count(*) FROM item_credentials"
                               " GROUP BY credential").fetchall())
    assert states == {"trusted": 1, "none": 1, "invalid": 2, "valid": 1}
    codes = conn.execute("SELECT failure_codes FROM item_credentials WHERE item = ?",
                         (added["XCA.jpg"]["sha256"],)).fetchone()[0]
    assert codes == "assertion.dataHash.mismatch"
    assert invoke(db, "verify").exit_code == 0


def test_show_and_exports_say_it_in_plain_words(db, tmp_path):
    added = _add(db, DATA / "C.jpg", DATA / "XCA.jpg", DATA / "A.jpg", trust=ANCHORS)
    shown = invoke(db, "show", added["C.jpg"]["sha256"][:12], check=True).stdout
    assert ("credential valid and trusted, signed by C2PA Signer (issued by C2PA Test Signing"
            " Cert) on 2023-09-29T17:40:14+00:00") in shown
    bad = invoke(db, "show", added["XCA.jpg"]["sha256"][:12], check=True).stdout
    assert "credential INVALID: assertion.dataHash.mismatch" in bad
    none = invoke(db, "show", added["A.jpg"]["sha256"][:12], check=True).stdout
    assert "none (no C2PA manifest in the file" in none and "suspicious" not in none
    out = tmp_path / "r.md"
    invoke(db, "export", added["XCA.jpg"]["sha256"][:12], "--format", "md", "--out", str(out),
           check=True)
    assert "credential INVALID: assertion.dataHash.mismatch" in out.read_text()


def test_signed_wav_mp4_and_an_ai_declaration_made_at_test_time(db, tmp_path):
    from fixtures import video

    chain = (DATA / "es256_certs.pem").read_bytes()
    key = (DATA / "es256_private.key").read_bytes()
    wav = credentials.write_wav(tmp_path / "tone.wav")
    mp4 = video.write_video(tmp_path / "clip.mp4", seconds=2, width=160, height=96)
    jpg = tmp_path / "gen.jpg"
    jpg.write_bytes(media.jpeg_with_exif(seed=11))
    signed = tmp_path / "signed"
    signed.mkdir()
    credentials.sign(wav, signed / "tone.wav", "audio/wav", chain, key,
                     credentials.manifest("tone"))
    credentials.sign(mp4, signed / "clip.mp4", "video/mp4", chain, key,
                     credentials.manifest("clip"))
    credentials.sign(jpg, signed / "gen.jpg", "image/jpeg", chain, key,
                     credentials.manifest("made by a model", credentials.TRAINED, "ImageGen"))
    added = _add(db, *sorted(signed.iterdir()), trust=ANCHORS)
    assert {n: _credential(db, r["sha256"])["state"] for n, r in added.items()} == {
        "tone.wav": "trusted", "clip.mp4": "trusted", "gen.jpg": "trusted"}
    generated = _credential(db, added["gen.jpg"]["sha256"])
    assert generated["ai_generated"] is True
    assert generated["digital_source_types"] == [credentials.TRAINED]
    shown = invoke(db, "show", added["gen.jpg"]["sha256"][:12], check=True).stdout
    assert "declared AI-generated (trainedAlgorithmicMedia)" in shown
    assert _credential(db, added["clip.mp4"]["sha256"])["actions"][0]["action"] == \
        "c2pa.created"


def test_prov_c2pa_links_ingredients_and_records_a_new_reading(db, tmp_path):
    chain, key, ca = credentials.make_authority()
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(media.jpeg_with_exif(seed=4))
    parent = credentials.sign(photo, tmp_path / "parent.jpg", "image/jpeg", chain, key,
                              credentials.manifest("original"))
    child = credentials.sign(parent, tmp_path / "child.jpg", "image/jpeg", chain, key,
                             credentials.manifest("edit", ingredients=True), ingredient=parent)
    added = _add(db, parent, child)
    child_sha, parent_sha = added["child.jpg"]["sha256"], added["parent.jpg"]["sha256"]
    report = invoke(db, "c2pa", child_sha[:12], "--json", check=True).json()
    assert report["credential"]["ingredients"][0]["held_item"] == parent_sha
    assert report["manifest_store"]["active_manifest"] == report["credential"]["manifest"]
    text = invoke(db, "c2pa", child_sha[:12], check=True).stdout
    assert f"parent.jpg (parentOf, image/jpeg) = held item {parent_sha[:12]}" in text
    assert _credential(db, child_sha)["state"] == "valid"

    # The investigator later obtains the camera maker's root and records a new reading.
    anchors = tmp_path / "maker.pem"
    anchors.write_bytes(ca)
    before = invoke(db, "log", child_sha[:12], "--json").json()
    run = invoke(db, "c2pa", child_sha[:12], "--record", "--c2pa-trust", str(anchors))
    assert run.exit_code == 0, run.output
    after = invoke(db, "log", child_sha[:12], "--json").json()
    assert [e["type"] for e in after[len(before):]] == ["c2pa.read"]
    assert _credential(db, child_sha)["state"] == "trusted"
    assert "credential valid and trusted" in invoke(db, "show", child_sha[:12]).stdout
    # The registration's reading stays in the log; the tables replay to the new one.
    registered = [e for e in after if e["type"] == "item.registered"]
    assert registered, after
    assert invoke(db, "verify").exit_code == 0


def test_a_bad_trust_list_is_refused_before_anything_is_read(db, tmp_path):
    junk = tmp_path / "trust.pem"
    junk.write_text("not a certificate")
    run = invoke(db, "add", str(DATA / "C.jpg"), "--c2pa-trust", str(junk))
    assert run.exit_code == 2 and len(run.stderr.strip().splitlines()) == 1
    assert "no PEM certificate" in run.stderr
    assert invoke(db, "list", "--json").json() == []
    run = invoke(db, "add", str(DATA / "C.jpg"), "--c2pa-trust", str(tmp_path / "missing.pem"))
    assert run.exit_code == 2 and "cannot read the C2PA trust list" in run.stderr


def test_trust_list_from_the_environment(db, monkeypatch):
    monkeypatch.setenv("PROV_C2PA_TRUST", str(ANCHORS))
    added = _add(db, DATA / "C.jpg")
    assert _credential(db, added["C.jpg"]["sha256"])["state"] == "trusted"


def test_a_stored_original_that_changed_is_not_read_as_the_item(db, tmp_path):
    copy = tmp_path / "C.jpg"
    shutil.copy(DATA / "C.jpg", copy)
    sha = _add(db, copy)["C.jpg"]["sha256"]
    stored = next((db.parent / "evidence.store").rglob(sha))
    stored.chmod(0o644)
    stored.write_bytes(b"something else")
    # The sighted copy is still reachable and still the item's bytes: it is read instead.
    assert invoke(db, "c2pa", sha[:12]).exit_code == 0
    copy.write_bytes(b"edited too")
    run = invoke(db, "c2pa", sha[:12])
    assert run.exit_code == 1 and "no copy whose SHA-256 matches" in run.stderr


def test_reading_commands_do_not_load_the_attestation_libraries(db):
    _add(db, DATA / "A.jpg")
    for args in (["show", "f999fd"], ["verify"], ["list"]):
        code = (
            "import sys\n"
            "from typer.testing import CliRunner\n"
            "from provenance.cli import app\n"
            f"r = CliRunner().invoke(app, {['--db', str(db), *args]!r})\n"
            "assert r.exit_code == 0, r.output\n"
            "print([m for m in ('c2pa', 'rfc3161_client') if m in sys.modules])\n"
        )
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             check=True)
        assert out.stdout.strip() == "[]", (args, out.stdout)


def test_matching_leaves_the_query_credential_unread(db, tmp_path):
    # Registration records a file's credential; no answer of `prov match` rests on it, so the
    # query's is not read (the C2PA library's import and a read were 30-60 ms of each query).
    sha = _add(db, DATA / "C.jpg")["C.jpg"]["sha256"]
    assert _credential(db, sha)["state"] != "none"
    args = ["--db", str(db), "match", str(DATA / "C.jpg"), "--json"]
    code = (
        "import json, sys\n"
        "from typer.testing import CliRunner\n"
        "from provenance.cli import app\n"
        f"r = CliRunner().invoke(app, {args!r})\n"
        "assert r.exit_code == 0, r.output\n"
        "print([m['verdict'] for m in json.loads(r.stdout)['matches']], 'c2pa' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "['identical'] False"


@pytest.mark.parametrize("name", ["C.jpg"])
def test_sample_files_are_the_upstream_bytes(name):
    # The README records their origin; a changed byte would change every state above.
    import hashlib

    digest = hashlib.sha256((DATA / name).read_bytes()).hexdigest()
    assert digest.startswith("4cbac1af4851")


def test_a_damaged_manifest_store_is_invalid_and_the_file_still_registered(db, tmp_path):
    data = (DATA / "C.jpg").read_bytes()
    at = data.find(b"jumb")
    damaged = tmp_path / "damaged.jpg"
    damaged.write_bytes(data[:at + 40] + bytes(200) + data[at + 240:])
    added = _add(db, damaged)["damaged.jpg"]
    assert added["status"] == "new"
    got = _credential(db, added["sha256"])
    assert got["state"] == "invalid" and got["codes"] == ["manifest.unreadable"]
    assert got["reason"]


def test_prov_c2pa_refuses_an_item_no_credential_can_be_in(db, tmp_path):
    note = tmp_path / "note.txt"
    note.write_text("a statement")
    sha = _add(db, note)["note.txt"]["sha256"]
    assert "c2pa" not in invoke(db, "show", sha[:12], "--json").json()["metadata"]
    run = invoke(db, "c2pa", sha[:12])
    assert run.exit_code == 2 and "text/plain" in run.stderr



def test_workers_forked_after_the_reader_was_used_still_read_credentials(tmp_path):
    # The native reader is not fork-safe once it has read a PDF: a worker forked afterwards
    # (a long-lived process: the test suite, the demo then `add`) hung on its first read.
    db = tmp_path / "e.db"
    names = ["C.jpg", "A.jpg", "XCA.jpg", "E-sig-CA.jpg", "pdf-file.pdf"]
    files = [str(DATA / n) for n in names]
    code = "\n".join([
        "from typer.testing import CliRunner",
        "from provenance.cli import app",
        "from provenance.media import c2pa",
        f"c2pa.read({str(DATA / 'pdf-file.pdf')!r}, 'application/pdf')",
        f"CliRunner().invoke(app, ['--db', {str(db)!r}, 'init'])",
        f"r = CliRunner().invoke(app, ['--db', {str(db)!r}, 'add', '--c2pa-trust',"
        f" {str(ANCHORS)!r}, *{files!r}])",
        "assert r.exit_code == 0, r.output",
    ])
    run = subprocess.Popen([sys.executable, "-c", code], start_new_session=True)
    try:
        assert run.wait(timeout=120) == 0
    finally:
        if run.poll() is None:  # hung: end it and the workers it forked
            os.killpg(run.pid, signal.SIGKILL)
    import hashlib

    states = {n: _credential(db, hashlib.sha256((DATA / n).read_bytes()).hexdigest())["state"]
              for n in names}
    assert states == {"C.jpg": "trusted", "A.jpg": "none", "XCA.jpg": "invalid",
                      "E-sig-CA.jpg": "invalid", "pdf-file.pdf": "valid"}
