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
