"""What no refactoring may change: migration names and SQL, event types, the log's hash
format, and a database written by the code before the move into subpackages."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

from provenance.ledger import db as store
from provenance.ledger import event, projection
from provenance.ledger import log as event_log

from .conftest import invoke

PREMOVE = Path(__file__).parent / "data" / "premove"


def test_migration_names_and_their_sql_are_exactly_as_recorded_in_databases():
    # The released migrations, pinned; later ones are new files after them.
    ms = store.migrations()[:4]
    assert [name for name, _ in ms] == [
        "0001_schema", "0002_fts", "0003_views", "0004_item_key_index",
    ]
    digest = hashlib.sha256()
    # The digest pins the migrations released before the move; later ones are new files.
    for name, sql in ms[:4]:
        digest.update(name.encode() + b"\0" + sql.encode() + b"\0")
    assert digest.hexdigest() == (
        "fb7fd0ed6dc90e1b4e70be8c909b8c1f2bb38a2b32386dc27ff6ea58a307e9d5"
    )


def test_event_types_and_hash_prefixes_are_the_log_format():
    assert sorted(projection.APPLIERS) == sorted([
        "actor.created", "c2pa.read", "checkpoint.timestamped", "claim.recorded",
        "claim.reviewed", "custody.recorded", "item.registered", "item.restored", "item.stored",
        "near_duplicate.found", "sighting.recorded",
        "capture.recorded",
        # issue 15: review workflow, incidents, sensitive-media flags
        "incident.created", "incident.linked", "incident.related", "item.flagged",
        "item.reviewed", "item.status_set", "item.unflagged",
        # issue 14: corrections, names, notes, tags, actors
        "event.retracted", "event.corrected", "item.withdrawn", "item.reclassified",
        "item.named", "item.noted", "item.tagged", "item.untagged",
        "actor.renamed", "actor.merged", "actor.edited",
        "fixity.checked",
        # issue 18: text read off pages
        "ocr.recorded", "text_layer.read",
        # issue 16: a captured item's perceptual analysis, recorded after securing it
        "item.analysed",
    ])
    assert event.FORMAT == 1
    assert event_log.LEAF_PREFIX == b"prov:event:v1\x00"
    assert event_log.CHAIN_PREFIX == b"prov:chain:v1\x00"
    assert event_log.GENESIS_PREFIX == b"prov:genesis:v1\x00"


def test_a_database_written_before_the_move_opens_verifies_and_matches(tmp_path):
    here = tmp_path / "premove"
    shutil.copytree(PREMOVE, here)
    db = here / "evidence.db"
    verified = invoke(db, "verify", "--json")
    assert verified.exit_code == 0, verified.stdout + verified.stderr
    assert verified.json()["events"] == 9
    shown = invoke(db, "show", "f79e68", "--json").json()
    assert shown["claims"][0]["reviews"][0]["status"] == "verified"
    found = invoke(db, "match", str(here / "reupload.jpg"), "--json").json()
    assert found["matches"][0]["sha256"].startswith("f79e68ea0915")
    assert found["matches"][0]["verdict"] == "re-upload"
