"""Tesseract is looked for only when text is due: finding it runs it twice (0.15-0.2 s)."""

from __future__ import annotations

import os
import pickle
import shutil
from pathlib import Path

import pytest

from fixtures import media
from fixtures import text_pages as tp
from provenance.media import ocr

from .conftest import invoke

TESSERACT = shutil.which("tesseract")
pytestmark = pytest.mark.skipif(TESSERACT is None, reason="Tesseract is not installed")


@pytest.fixture
def counted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """$PROV_TESSERACT: the real Tesseract, through a script noting each time it runs."""
    runs = tmp_path / "tesseract-runs"
    script = tmp_path / "tesseract"
    script.write_text(f'#!/bin/sh\necho "$*" >> "{runs}"\nexec "{TESSERACT}" "$@"\n')
    script.chmod(0o755)
    monkeypatch.setenv("PROV_TESSERACT", str(script))
    return runs


def _runs(runs: Path) -> list[str]:
    return runs.read_text().splitlines() if runs.exists() else []


def test_adding_and_matching_a_photo_never_runs_tesseract(db, tmp_path, counted) -> None:
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(media.jpeg_with_exif(31, size=(320, 240)))
    invoke(db, "add", str(photo), "--case", "c", check=True)
    other = tmp_path / "other.jpg"
    other.write_bytes(media.jpeg_with_exif(32, size=(320, 240)))
    assert invoke(db, "match", str(other), "--json", check=True).json()["matches"] is not None
    assert _runs(counted) == []


def test_a_scan_still_finds_tesseract_and_reads_its_text(db, tmp_path, counted) -> None:
    pdf = tp.write_pdf(tmp_path / "english.pdf", ["english"])
    page = tp.render_png(pdf, 1, tmp_path / "page.png")
    run = invoke(db, "add", str(page), "--kind", "scan", "--json", check=True)
    sha = run.json()[0]["sha256"]
    assert any("--version" in r for r in _runs(counted))
    events = invoke(db, "log", sha, "--json", check=True).json()
    [reading] = [e for e in events if e["type"] == "ocr.recorded"]
    assert reading["data"]["engine_version"] == ocr.engine().version
    assert "CONVOY" in reading["data"]["pages"][0]["text"]


def test_the_engine_found_later_is_the_one_found_at_once(monkeypatch) -> None:
    assert ocr.deferred() == ocr.engine()
    assert ocr.deferred().usable == ocr.engine().usable
    # Sent to a pool worker as what it found: a plain Engine.
    sent = pickle.loads(pickle.dumps(ocr.deferred()))
    assert type(sent) is ocr.Engine and sent == ocr.engine()
    monkeypatch.setenv("PROV_TESSERACT", os.devnull + "-missing")
    missing = ocr.deferred()
    assert not missing.usable and missing.problem == "Tesseract is not installed"
