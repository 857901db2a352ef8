"""Pictures too large to decode and documents too costly to OCR (issue 18, bad input): each
registered as the evidence it is, with one warning saying what was skipped; nothing hangs."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fixtures import media

from ..conftest import invoke

# 30,000 x 30,000 pixels: 2.7 GB as RGB, were it decoded.
SIDE = 30_000


def _huge(tmp_path: Path) -> Path:
    path = tmp_path / "huge.png"
    path.write_bytes(media.huge_png(SIDE, SIDE))
    return path


def _hashes(db: Path, sha: str) -> list[dict[str, object]]:
    events = invoke(db, "log", sha, "--json", check=True).json()
    [registered] = [e for e in events if e["type"] == "item.registered"]
    return list(registered["data"]["hashes"])


def test_a_30000_pixel_square_image_is_registered_undecoded_with_one_warning(db, tmp_path):
    huge = _huge(tmp_path)
    run = invoke(db, "add", str(huge), "--json")
    assert run.exit_code == 0, run.stderr
    [result] = run.json()
    assert result["status"] == "new" and result["kind"] == "image"
    lines = [line for line in run.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"warning: {huge}: 30000 x 30000 pixels, over the ")
    assert "no perceptual hashes, keypoints or text" in lines[0]
    shown = invoke(db, "show", result["sha256"], "--json", check=True).json()
    assert shown["stored"] and shown["mime"] == "image/png"
    assert shown["metadata"]["width"] == SIDE and shown["metadata"]["height"] == SIDE
    assert "decoding limit" in shown["metadata"]["not_decoded"]
    assert _hashes(db, result["sha256"]) == []
    # `show` says it, not only the warning at registration.
    text = invoke(db, "show", result["sha256"], check=True).stdout
    assert "pixels not decoded" in text and "30000 x 30000 pixels" in text
    assert invoke(db, "verify").exit_code == 0


def test_a_huge_scan_is_not_decoded_for_ocr_either(db, tmp_path):
    huge = _huge(tmp_path)
    run = invoke(db, "add", str(huge), "--kind", "scan", "--ocr", "--json")
    assert run.exit_code == 0, run.stderr
    assert len([line for line in run.stderr.splitlines() if line.strip()]) == 1, run.stderr
    sha = run.json()[0]["sha256"]
    types = [e["type"] for e in invoke(db, "log", sha, "--json", check=True).json()]
    assert "ocr.recorded" not in types


def test_the_pixel_limit_is_an_option(db, tmp_path):
    from PIL import Image

    photo = tmp_path / "photo.png"
    Image.new("RGB", (400, 300), (40, 90, 160)).save(photo)
    run = invoke(db, "add", str(photo), "--max-pixels", "100000", "--json")
    assert run.exit_code == 0, run.stderr
    assert "400 x 300 pixels, over the 100,000-pixel decoding limit (--max-pixels)" in run.stderr
    assert _hashes(db, run.json()[0]["sha256"]) == []
    # Within the default limit, the same picture is decoded and hashed.
    other = tmp_path / "other.png"
    Image.new("RGB", (400, 300), (160, 90, 40)).save(other)
    run = invoke(db, "add", str(other), "--json")
    assert run.exit_code == 0 and "decoding limit" not in run.stderr
    assert _hashes(db, run.json()[0]["sha256"])


def test_registering_a_huge_image_stays_well_under_a_gigabyte(tmp_path):
    # A real `prov add` in its own process, which reports at exit the peak memory the kernel
    # measured for it and for any process it started.
    huge = _huge(tmp_path)
    db = tmp_path / "evidence.db"
    # Its own high-water mark is VmHWM, not RUSAGE_SELF: Linux carries ru_maxrss across
    # fork and exec, so a child of a test worker grown to 1 GB reported 1 GB before doing
    # anything. Processes prov starts are forked from prov, so RUSAGE_CHILDREN is theirs.
    code = ("import atexit, resource, sys\n"
            "def peak():\n"
            "    r = resource\n"
            "    status = open('/proc/self/status').read().split('VmHWM:')[1]\n"
            "    kb = max(int(status.split()[0]), r.getrusage(r.RUSAGE_CHILDREN).ru_maxrss)\n"
            "    print(f'peak-kb {kb}', file=sys.stderr)\n"
            "atexit.register(peak)\n"
            "from provenance.cli import main\n"
            "main()\n")
    prov = [sys.executable, "-c", code, "--db", str(db)]
    subprocess.run([*prov, "init"], check=True, capture_output=True, timeout=120)
    run = subprocess.run([*prov, "add", str(huge), "--json"], capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)[0]["status"] == "new"
    [peak_kb] = [int(line.split()[1]) for line in run.stderr.splitlines()
                 if line.startswith("peak-kb ")]
    assert 0 < peak_kb < 1_000_000, f"peak RSS {peak_kb} KB"


@pytest.mark.skipif(shutil.which("tesseract") is None,
                    reason="Tesseract is not installed (.ci/run installs it)")
def test_ocr_of_a_document_stops_at_its_budget_and_says_what_it_read(db, tmp_path):
    from fixtures import text_pages as tp

    # Four pages without a text layer, four languages each: several seconds of OCR on any
    # machine (each page is a Tesseract process loading four models), against one second.
    pdf = tp.write_pdf(tmp_path / "four.pdf", list(tp.TEXTS))
    scanned = tp.write_scanned_pdf(pdf, tmp_path / "scanned.pdf")
    started = time.monotonic()
    run = invoke(db, "add", str(scanned), "--ocr-budget", "1", "--json")
    assert run.exit_code == 0, run.stderr
    assert time.monotonic() - started < 60
    [result] = run.json()
    assert result["status"] == "new"
    [warning] = [w for w in result["warnings"] if "--ocr-budget" in w]
    assert warning.startswith("the OCR budget of 1 s per document ran out: ")
    events = invoke(db, "log", result["sha256"], "--json", check=True).json()
    [ocr] = [e for e in events if e["type"] == "ocr.recorded"]
    read = len(ocr["data"]["pages"])
    assert read < 4 and f"{read} of 4 page(s) read" in warning
    [skip] = [s for s in ocr["data"]["skipped"] if "OCR budget" in s]
    assert skip.endswith(f"ran out after {read} page(s) read")
    shown = invoke(db, "show", result["sha256"], "--json", check=True).json()
    assert len(shown["page_text"]) == read


def test_a_limit_raised_above_pillows_own_decodes_the_picture(db, tmp_path):
    # --max-pixels above Pillow's default guard (2 x 89,478,485 pixels) is the investigator's
    # decision: the picture is decoded and hashed, not refused by Pillow's header check.
    big = tmp_path / "big.png"
    big.write_bytes(media.huge_png(14_000, 14_000))  # 196 MP: over Pillow's 178,956,970
    run = invoke(db, "add", str(big), "--max-pixels", "200000000", "--json")
    assert run.exit_code == 0, run.output
    assert "decoding limit" not in run.stderr
    assert _hashes(db, run.json()[0]["sha256"])
