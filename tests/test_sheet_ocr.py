"""A plain photo is OCR'd at registration only to name a page it may photograph (issue 18):
never when no page text is held or arriving with it; then only `--ocr` or `prov ocr` read it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from fixtures import photographed as ph

from .conftest import invoke

pytestmark = pytest.mark.skipif(shutil.which("tesseract") is None,
                                reason="Tesseract is not installed (.ci/run installs it)")


@pytest.fixture(scope="module")
def sheet(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("sheet")
    form = ph.filled_form(d / "form.pdf", 1)
    photo = d / "photo.jpg"
    photo.write_bytes(ph.photograph(ph.page_picture(form, 1), 11))
    return {"form": form, "photo": photo}


def _readings(db: Path, sha: str) -> list[str]:
    return [e["type"] for e in invoke(db, "log", sha, "--json", check=True).json()
            if e["type"] == "ocr.recorded"]


def test_a_photo_of_a_sheet_is_not_ocrd_when_no_page_text_is_held(db, sheet) -> None:
    run = invoke(db, "add", str(sheet["photo"]), "--json", check=True).json()[0]
    assert run["status"] == "new" and run["kind"] == "image"
    assert _readings(db, run["sha256"]) == []
    assert invoke(db, "show", run["sha256"], "--json", check=True).json()["page_text"] == []
    # Asked for, it is read (the whole photo, as for any image).
    assert invoke(db, "ocr", run["sha256"], "--json", check=True).json()[0]["recorded"] == [
        "ocr.recorded"]


def test_a_photo_of_a_sheet_is_read_when_its_page_arrives_in_the_same_batch(db, sheet) -> None:
    run = invoke(db, "add", str(sheet["form"]), str(sheet["photo"]), "--json",
                 check=True).json()
    form, photo = run
    assert _readings(db, photo["sha256"]) == ["ocr.recorded"]
    assert {(m["sha256"], m.get("page")) for m in photo["matches"]
            if m["verdict"] == "re-upload"} == {(form["sha256"], 1)}
