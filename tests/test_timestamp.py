"""RFC 3161 time-stamps of the log's head: a local authority (openssl) over loopback HTTP."""

from __future__ import annotations

import base64
import json
import sqlite3
import subprocess
from pathlib import Path

import pytest

from fixtures import tsa
from provenance.ledger import log
from provenance.ledger import timestamp as ts

from .conftest import invoke

pytestmark = pytest.mark.skipif(not tsa.available(), reason="needs the openssl command")


@pytest.fixture(scope="module")
def authority(tmp_path_factory: pytest.TempPathFactory) -> tsa.Authority:
    return tsa.make_authority(tmp_path_factory.mktemp("tsa"))


def _events(db: Path, *names: str) -> None:
    for name in names:
        invoke(db, "actor", "add", name, "--kind", "organisation", "--note", "n", check=True)


def _stamped(db: Path, authority: tsa.Authority, out: Path, *, chain: bool = False) -> dict:
    with tsa.serve(authority, chain=chain) as url:
        run = invoke(db, "checkpoint", "--tsa", url, "--out", str(out))
    assert run.exit_code == 0, run.output
    assert "existed at" in run.stderr
    return json.loads(out.read_text())


def test_a_stamped_checkpoint_verifies_offline_and_names_the_authoritys_time(db, tmp_path,
                                                                              authority):
    _events(db, "CNN", "BBC")
    doc = _stamped(db, authority, tmp_path / "cp.json")
    stamp = doc["timestamp"]
    assert stamp["head"] == doc["head"] and stamp["events"] == doc["events"] == 2
    assert stamp["tsa_name"] == "prov test TSA"
    # Recorded in the log too, as the event after the head it stamps.
    entry = invoke(db, "log", "--json").json()[-1]
    assert entry["type"] == "checkpoint.timestamped"
    run = invoke(db, "verify", "--checkpoint", str(tmp_path / "cp.json"),
                 "--tsa-cert", str(authority.ca))
    assert run.exit_code == 0, run.output
    assert f"log head {doc['head'][:16]}… existed at {stamp['gen_time']} per" in run.stdout
    as_json = invoke(db, "verify", "--checkpoint", str(tmp_path / "cp.json"),
                     "--tsa-cert", str(authority.ca), "--json").json()
    assert as_json["ok"] and as_json["checkpoint"]["timestamp"]["gen_time"] == stamp["gen_time"]
    # openssl agrees: the imprint is the head itself.
    reply = tmp_path / "reply.tsr"
    reply.write_bytes(base64.b64decode(stamp["response"]))
    check = subprocess.run(["openssl", "ts", "-verify", "-digest", doc["head"], "-in",
                            str(reply), "-CAfile", str(authority.ca)], capture_output=True,
                           text=True)
    assert "Verification: OK" in check.stdout, check.stdout + check.stderr


def test_without_the_chain_the_stamp_is_reported_unchecked(db, tmp_path, authority):
    _events(db, "CNN")
    _stamped(db, authority, tmp_path / "cp.json")
    run = invoke(db, "verify", "--checkpoint", str(tmp_path / "cp.json"))
    assert run.exit_code == 0
    assert "carries a time-stamp, not checked: pass --tsa-cert" in run.stdout


def test_an_unsorted_certificate_set_is_still_verified(db, tmp_path, authority):
    from rfc3161_client import decode_timestamp_response

    _events(db, "CNN")
    doc = _stamped(db, authority, tmp_path / "cp.json", chain=True)
    reply = base64.b64decode(doc["timestamp"]["response"])
    # What the authority sent is kept as sent, and the strict parser refuses it as is...
    with pytest.raises(ValueError, match="InvalidSetOrdering"):
        decode_timestamp_response(reply)
    assert ts.normalised(reply) != reply
    # ...yet prov verifies it, and still refuses it for another head or another CA.
    run = invoke(db, "verify", "--checkpoint", str(tmp_path / "cp.json"),
                 "--tsa-cert", str(authority.ca))
    assert run.exit_code == 0, run.output
    assert "existed at" in run.stdout
    with pytest.raises(Exception, match="another log head"):
        ts.verify(reply, "ab" * 32, authority.ca)


def test_a_token_for_another_head_is_refused_with_one_line(db, tmp_path, authority):
    _events(db, "CNN")
    first = _stamped(db, authority, tmp_path / "one.json")
    _events(db, "BBC")
    second = _stamped(db, authority, tmp_path / "two.json")
    first["timestamp"] = second["timestamp"]
    (tmp_path / "one.json").write_text(json.dumps(first))
    run = invoke(db, "verify", "--checkpoint", str(tmp_path / "one.json"),
                 "--tsa-cert", str(authority.ca))
    assert run.exit_code == 1
    problems = [line for line in run.stdout.splitlines() if line.startswith("PROBLEM")]
    assert len(problems) == 1 and "stamps another log head" in problems[0], run.stdout


def test_a_token_from_an_authority_not_in_the_chain_is_refused(db, tmp_path, authority):
    other = tsa.make_authority(tmp_path / "other", name="someone else")
    _events(db, "CNN")
    _stamped(db, authority, tmp_path / "cp.json")
    run = invoke(db, "verify", "--checkpoint", str(tmp_path / "cp.json"),
                 "--tsa-cert", str(other.ca))
    assert run.exit_code == 1
    problems = [line for line in run.stdout.splitlines() if line.startswith("PROBLEM")]
    assert len(problems) == 2, run.stdout  # the checkpoint's token, and the same in the log
    assert all("does not verify with" in p and "certificate" in p for p in problems)


def test_a_log_rewritten_after_its_head_was_stamped_is_caught(db, tmp_path, authority):
    _events(db, "CNN", "BBC")
    _stamped(db, authority, tmp_path / "cp.json")
    _rewrite_event(db, 1, note="edited afterwards")
    # The chain and the tables are consistent again; only outside evidence can tell.
    run = invoke(db, "verify", "--tsa-cert", str(authority.ca))
    assert run.exit_code == 1
    problems = [line for line in run.stdout.splitlines() if line.startswith("PROBLEM")]
    assert len(problems) == 1, run.stdout
    assert "the log was edited: event 2's chain hash is not the head the authority stamped" \
        in problems[0]
    with_file = invoke(db, "verify", "--checkpoint", str(tmp_path / "cp.json"),
                       "--tsa-cert", str(authority.ca))
    assert "history rewritten" in with_file.stdout


def test_offline_request_then_import_of_the_reply(db, tmp_path, authority):
    _events(db, "CNN")
    tsq, out = tmp_path / "cp.tsq", tmp_path / "cp.json"
    run = invoke(db, "checkpoint", "--tsq", str(tsq), "--out", str(out))
    assert run.exit_code == 0 and "time-stamp request" in run.stderr
    doc = json.loads(out.read_text())
    assert "timestamp" not in doc
    reply = tmp_path / "cp.tsr"
    reply.write_bytes(authority.reply(tsq.read_bytes(), chain=True))
    run = invoke(db, "timestamp", "import", str(reply), "--checkpoint", str(out),
                 "--tsa-cert", str(authority.ca))
    assert run.exit_code == 0, run.output
    assert "existed at" in run.stdout
    assert json.loads(out.read_text())["timestamp"]["head"] == doc["head"]
    # Importing the same reply again records nothing new.
    count = len(invoke(db, "log", "--json").json())
    invoke(db, "timestamp", "import", str(reply), check=True)
    assert len(invoke(db, "log", "--json").json()) == count
    assert invoke(db, "verify", "--checkpoint", str(out), "--tsa-cert",
                  str(authority.ca)).exit_code == 0


def test_a_signed_checkpoint_stays_verifiable_with_its_timestamp(db, tmp_path, authority):
    key = tmp_path / "k.pem"
    invoke(None, "keygen", "--out", str(key), check=True)
    _events(db, "CNN")
    tsq, out = tmp_path / "cp.tsq", tmp_path / "cp.json"
    invoke(db, "checkpoint", "--key", str(key), "--tsq", str(tsq), "--out", str(out),
           check=True)
    reply = tmp_path / "cp.tsr"
    reply.write_bytes(authority.reply(tsq.read_bytes()))
    invoke(db, "timestamp", "import", str(reply), "--checkpoint", str(out), check=True)
    run = invoke(db, "verify", "--checkpoint", str(out), "--public-key", f"{key}.pub",
                 "--tsa-cert", str(authority.ca))
    assert run.exit_code == 0, run.output


def test_bad_replies_are_refused_with_one_line(db, tmp_path, authority):
    _events(db, "CNN")
    junk = tmp_path / "junk.tsr"
    junk.write_bytes(b"\x30\x03\x02\x01\x00")
    run = invoke(db, "timestamp", "import", str(junk))
    assert run.exit_code == 1 and len(run.stderr.strip().splitlines()) == 1
    assert "junk.tsr" in run.stderr
    # A reply for a head this database never had.
    req, _ = ts.request("cd" * 32)
    stray = tmp_path / "stray.tsr"
    stray.write_bytes(authority.reply(req))
    run = invoke(db, "timestamp", "import", str(stray))
    assert run.exit_code == 1 and "stamps a head this log does not hold" in run.stderr
    run = invoke(db, "checkpoint", "--tsa", "http://127.0.0.1:9/none")
    assert run.exit_code == 1 and "unreachable" in run.stderr
    # Old checkpoints, without the key, verify as before.
    invoke(db, "checkpoint", "--out", str(tmp_path / "old.json"), check=True)
    assert invoke(db, "verify", "--checkpoint", str(tmp_path / "old.json")).exit_code == 0


def _rewrite_event(db: Path, seq: int, *, note: str) -> None:
    """An insider's consistent rewrite: change an actor's note, re-chain every later event,
    fix the table, and put the log's triggers back."""
    conn = sqlite3.connect(db, isolation_level=None)
    triggers = conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'"
                            " AND tbl_name = 'events'").fetchall()
    for name, _ in triggers:
        conn.execute(f"DROP TRIGGER {name}")
    db_id = conn.execute("SELECT value FROM meta WHERE key = 'database_id'").fetchone()[0]
    previous = log.genesis(db_id)
    rows = conn.execute("SELECT seq, payload FROM events ORDER BY seq").fetchall()
    for number, payload in rows:
        body = json.loads(payload)
        if number == seq:
            body["data"]["note"] = note
            conn.execute("UPDATE actors SET note = ? WHERE id = ?", (note, seq))
        text = log.canonical(body)
        leaf = log.leaf_hash(text)
        previous = log.chain_hash(previous, leaf)
        conn.execute("UPDATE events SET payload = ?, leaf_hash = ?, chain_hash = ? WHERE seq = ?",
                     (text, leaf, previous, number))
    for _, sql in triggers:
        conn.execute(sql)
    conn.close()
