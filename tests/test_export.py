"""`prov export`: JSON, Markdown and self-contained HTML, for one item or a whole case."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fixtures.case import CASE
from provenance.cli import app
from provenance.report.export import referenced_urls
from tests.servecase import CNN, TELEGRAM, Case, build


@pytest.fixture(scope="module")
def case(served_case: Case) -> Case:
    return served_case


def export(db: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["--db", str(db), "--by", "ana", "export", *args])
    return result.exit_code, result.stdout, result.stderr


def test_json_export_carries_the_whole_audit_trail_and_the_verify_result(case: Case) -> None:
    code, out, _ = export(case.db, case.arrival[:8], "--format", "json")
    assert code == 0
    doc = json.loads(out)
    assert doc["format"] == "prov-export/1" and doc["generated_by"] == "ana"
    assert doc["scope"] == {"item": case.arrival}
    assert doc["verify"]["ok"] is True and doc["verify"]["events"] > 0
    [item] = doc["items"]
    assert item["sha256"] == case.arrival and item["md5"]
    assert item["metadata"]["gps_latitude"] == pytest.approx(43.3491)
    assert [s["source_url"] for s in item["sightings"]] == [TELEGRAM]
    assert any(c["kind"] == "custody" for c in item["custody"]["timeline"])
    assert [c["id"] for c in item["claims"]] == [case.verified_claim, case.caption_claim]
    assert item["claims"][0]["reviews"][0]["status"] == "verified"
    assert item["geo_check"]["verdict"] == "contradicts"
    assert all(re.fullmatch("[0-9a-f]{64}", e["chain_hash"]) for e in item["events"])
    assert all(e["data"] is not None for e in item["events"])


def test_markdown_export_has_every_section(case: Case) -> None:
    code, out, _ = export(case.db, case.arrival, "--format", "md")
    assert code == 0
    for heading in ("# Provenance report: item", "## Integrity at export time", "### Identity",
                    "### Metadata", "### Sightings", "### Custody", "### Geolocation claims",
                    "### Near-duplicates", "### Events (hash-chained log)"):
        assert heading in out
    assert "- OK: " in out
    assert "published by @frontline_channel" in out
    assert "review: verified by ana" in out
    assert "Consistency check: **contradicts**" in out


def test_html_export_is_self_contained_and_prints(case: Case, tmp_path: Path) -> None:
    target = tmp_path / "report.html"
    code, _, err = export(case.db, case.arrival, "--format", "html", "--out", str(target))
    assert code == 0 and str(target) in err
    html = target.read_text("utf-8")
    assert "<script" not in html and "<link" not in html and "@import" not in html
    assert "@media print" in html and "@page" in html
    assert re.search(r'<img class="thumbnail" src="data:image/jpeg;base64,', html)
    assert '<svg class="prov-map"' in html
    assert "published by @frontline_channel" in html and "OK: " in html
    # The only web addresses are the evidence's own, as text: nothing would be fetched.
    doc = json.loads(export(case.db, case.arrival, "--format", "json")[1])
    allowed = referenced_urls(doc)
    assert allowed == {TELEGRAM, CNN}
    found = set(re.findall(r"https?://[^\s\"'<>&]+", html))
    assert found and found <= allowed
    assert not re.search(r'(src|href)\s*=\s*"https?:', html)


def test_case_export_covers_every_item_of_the_case(case: Case) -> None:
    code, out, _ = export(case.db, "--case", CASE, "--format", "json")
    assert code == 0
    doc = json.loads(out)
    assert doc["scope"] == {"case": CASE}
    assert {i["sha256"] for i in doc["items"]} == {case.arrival, case.uniforms,
                                                   case.questionnaire}
    code, html, _ = export(case.db, "--case", CASE, "--format", "html")
    assert code == 0 and html.count('<section class="item"') == 3


def test_items_without_a_preview_still_export(case: Case) -> None:
    code, out, _ = export(case.db, case.notes, "--format", "html")
    assert code == 0
    assert 'src="data:image/svg+xml;base64,' in out
    assert "registered a copy" in out and "No located points" in out


@pytest.mark.parametrize("args", [[], ["--case", "x", "abcdef12"]])
def test_one_item_or_one_case(case: Case, args: list[str]) -> None:
    code, _, err = export(case.db, *args, "--format", "json")
    assert code == 2 and "ITEM" in err


def test_unknown_case_and_item_are_usage_errors(case: Case) -> None:
    assert export(case.db, "--case", "no such case", "--format", "md")[0] == 2
    assert export(case.db, "ffffff00", "--format", "md")[0] == 2


def test_an_export_made_after_tampering_says_so(tmp_path: Path) -> None:
    case = build(tmp_path)
    stored = tmp_path / "evidence.store" / "sha256" / case.arrival[:2] / case.arrival[2:4]
    original = stored / case.arrival
    os.chmod(original, 0o600)
    original.write_bytes(original.read_bytes() + b"\0")
    code, out, err = export(case.db, case.arrival, "--format", "md")
    assert code == 1 and "verify FAILED" in err
    assert "- FAILED: " in out and "has been modified" in out
    code, html, _ = export(case.db, case.arrival, "--format", "html")
    assert 'class="verify failed"' in html


# --- re-hashing an export from itself (issue 12, defect 5) ----------------------------------


def recheck_export(doc: dict) -> list[str]:
    """The README's recipe, with nothing but the file, hashlib and rfc8785 (no prov code):
    every event's leaf hash from its fields, then the chain from the database's genesis to
    the head the export reports. The problems found; none for an honest export."""
    import hashlib

    import rfc8785

    problems = []
    leaves: dict[int, str] = {}
    chained: dict[int, str] = {}
    for item in doc["items"]:
        for event in item["events"]:
            envelope = {k: v for k, v in event.items() if k not in ("leaf_hash", "chain_hash")}
            leaf = hashlib.sha256(b"prov:event:v1\0" + rfc8785.dumps(envelope)).hexdigest()
            if leaf != event["leaf_hash"]:
                problems.append(f"event {event['seq']}: leaf hash differs")
            leaves[event["seq"]] = leaf
            chained[event["seq"]] = event["chain_hash"]
    db_id = doc["database"]["database_id"].encode("utf-8")
    previous = hashlib.sha256(b"prov:genesis:v1\0" + db_id).hexdigest()
    for position, (seq, leaf, chain) in enumerate(doc["chain"], 1):
        if seq != position:
            problems.append(f"chain: {seq} where {position} belongs")
        if leaves.get(seq, leaf) != leaf:
            problems.append(f"event {seq}: not the leaf the chain holds")
        previous = hashlib.sha256(b"prov:chain:v1\0" + bytes.fromhex(previous)
                                  + bytes.fromhex(leaf)).hexdigest()
        if previous != chain or chained.get(seq, chain) != chain:
            problems.append(f"event {seq}: chain hash differs")
    if (previous, len(doc["chain"])) != (doc["verify"]["head"], doc["verify"]["events"]):
        problems.append("the chain does not end at the head the export reports")
    if set(leaves) - {seq for seq, _, _ in doc["chain"]}:
        problems.append("exported events missing from the chain")
    return problems


@pytest.mark.parametrize("scope", ["item", "case"])
def test_a_json_export_can_be_rehashed_from_itself(case: Case, scope: str) -> None:
    args = [case.arrival] if scope == "item" else ["--case", CASE]
    code, out, _ = export(case.db, *args, "--format", "json")
    assert code == 0
    doc = json.loads(out)
    events = [e for item in doc["items"] for e in item["events"]]
    assert events and recheck_export(doc) == []
    assert all(e["format"] == 1 for e in events)
    # The keys every export had are still there, beside the envelope's "format".
    assert {"seq", "recorded_at", "recorded_by", "type", "item", "data", "leaf_hash",
            "chain_hash"} <= set(events[0])
    # The check is not a formality: one changed word in one event, or in the chain, is found.
    events[0]["data"] = {**events[0]["data"], "note": "edited"}
    assert f"event {events[0]['seq']}: leaf hash differs" in recheck_export(doc)
    events[0]["data"] = json.loads(out)["items"][0]["events"][0]["data"]
    last = doc["chain"][-1]
    last[2] = "0" * 64
    assert recheck_export(doc) == [f"event {last[0]}: chain hash differs"]
