"""OCR and text layers (issue 18): text in four languages read, recorded, shown, searched."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from fixtures import text_pages as tp

from .conftest import invoke

pytestmark = pytest.mark.skipif(shutil.which("tesseract") is None,
                                reason="Tesseract is not installed (.ci/run installs it)")
LANGS = list(tp.TEXTS)


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("text_pages")
    out = {"pdf": tp.write_pdf(d / "four.pdf", LANGS)}
    out["scanned"] = tp.write_scanned_pdf(out["pdf"], d / "four_scanned.pdf")
    for n, lang in enumerate(LANGS, 1):
        out[lang] = tp.render_png(out["pdf"], n, d / f"{lang}.png")
    return out


@pytest.fixture(scope="module")
def held(pages: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One database: the PDF with text layers, its scanned twin, each page as a scan image."""
    db = tmp_path_factory.mktemp("ocr_db") / "evidence.db"
    invoke(db, "init", check=True)
    added = invoke(db, "add", str(pages["pdf"]), str(pages["scanned"]), "--json", check=True)
    scans = invoke(db, "add", *(str(pages[lang]) for lang in LANGS), "--kind", "scan", "--json",
                   check=True)
    shas = {Path(r["path"]).stem: r["sha256"] for r in added.json() + scans.json()}
    return {"db": db, "shas": shas}


def _search(db: Path, word: str) -> list[tuple[str, int, str]]:
    conn = sqlite3.connect(db)
    rows = conn.execute(
        "SELECT p.item_id, p.page, p.source FROM page_text_fts f"
        " JOIN page_text p ON p.rowid = f.rowid WHERE page_text_fts MATCH ? ORDER BY 1, 2, 3",
        (f'"{word}"',)).fetchall()
    conn.close()
    return [tuple(r) for r in rows]


@pytest.mark.parametrize("lang", LANGS)
def test_text_in_each_language_is_found_by_search_on_the_right_page(held, lang) -> None:
    found = _search(held["db"], tp.SEARCH_WORDS[lang])
    page = LANGS.index(lang) + 1
    shas = held["shas"]
    # The text layer of the PDF, the OCR of its scanned twin (no text layer), the scan image.
    assert (shas["four"], page, "text-layer") in found
    assert (shas["four_scanned"], page, "ocr") in found
    assert (shas[lang], 1, "ocr") in found
    # No other page holds the word: nothing else is found.
    assert len(found) == 3, found


@pytest.mark.parametrize("lang", LANGS)
def test_prov_search_finds_the_text_read_off_pages_in_each_language(held, lang) -> None:
    """`prov search` (issue 14) searches page text too: the OCR of a scan and a text layer."""
    word = tp.SEARCH_WORDS[lang]
    run = invoke(held["db"], "search", word.lower(), "--json", check=True)
    found = {(r["item"], r["field"]) for r in run.json()["results"]}
    shas = held["shas"]
    assert {(shas["four"], "page text"), (shas["four_scanned"], "page text"),
            (shas[lang], "page text")} <= found
    assert all(word.casefold() in r["snippet"].casefold() for r in run.json()["results"])


def test_pages_with_a_text_layer_are_not_ocrd_and_each_reading_names_its_means(held) -> None:
    conn = sqlite3.connect(held["db"])
    rows = conn.execute("SELECT item_id, source, engine, engine_version, languages"
                        " FROM page_text").fetchall()
    by_item: dict[str, set[tuple[Any, ...]]] = {}
    for item, *rest in rows:
        by_item.setdefault(item, set()).add(tuple(rest))
    pdf = by_item[held["shas"]["four"]]
    assert {r[0] for r in pdf} == {"text-layer"} and {r[1] for r in pdf} == {"pdfium"}
    scanned = by_item[held["shas"]["four_scanned"]]
    assert {r[0] for r in scanned} == {"ocr"}
    (_, engine, version, langs), = scanned
    assert engine == "tesseract" and version and version[0].isdigit()
    assert langs == "eng+rus+ukr+kor"


def test_readings_are_events_and_verify_rebuilds_page_text(held) -> None:
    log = invoke(held["db"], "log", "--json", check=True).json()
    types = [e["type"] for e in log]
    assert types.count("text_layer.read") == 1 and types.count("ocr.recorded") == 5
    ocr_event = next(e for e in log if e["type"] == "ocr.recorded")
    assert ocr_event["data"]["engine"] == "tesseract" and ocr_event["data"]["options"]
    assert invoke(held["db"], "verify", "--json", check=True).json()["ok"] is True


def test_show_and_exports_give_the_text_per_page_with_its_engine(held) -> None:
    sha = held["shas"]["four_scanned"]
    shown = invoke(held["db"], "show", sha[:12], check=True).stdout
    assert "text read off its pages (4)" in shown
    assert "page 3 (OCR, tesseract" in shown and "훈련 일정 안내" in shown
    doc = invoke(held["db"], "show", sha[:12], "--json", check=True).json()
    assert [p["page"] for p in doc["page_text"]] == [1, 2, 3, 4]
    assert "CONVOY" in doc["page_text"][3]["text"]
    md = invoke(held["db"], "export", sha[:12], "--format", "md", check=True).stdout
    assert "### Text read off its pages" in md and "ПОВІДОМЛЕННЯ" in md
    html = invoke(held["db"], "export", sha[:12], "--format", "html", check=True).stdout
    assert "Text read off its pages" in html and "ПРОТОКОЛ" in html


def test_page_text_is_searchable_in_datasette(held) -> None:
    import asyncio

    from provenance.serve import app as serve_app

    ds = serve_app.build(held["db"])
    response = asyncio.run(ds.client.get("/evidence/page_text.json?_search=훈련&_shape=array"))
    assert response.status_code == 200, response.text
    found = {(r["item_id"], r["page"]) for r in response.json()}
    assert (held["shas"]["korean"], 1) in found and (held["shas"]["four"], 3) in found


def test_an_image_is_ocrd_only_when_asked_then_by_prov_ocr(db, pages) -> None:
    sha = invoke(db, "add", str(pages["english"]), "--json", check=True).json()[0]["sha256"]
    assert invoke(db, "show", sha, "--json", check=True).json()["page_text"] == []
    run = invoke(db, "ocr", sha[:10], "--json", check=True)
    [result] = run.json()
    assert result["recorded"] == ["ocr.recorded"] and "CONVOY" in result["pages"][0]["text"]
    assert _search(db, "Thursday") == [(sha, 1, "ocr")]
    # --ocr at registration reads an ordinary image too.
    other = invoke(db, "add", str(pages["russian"]), "--ocr", "--json", check=True).json()[0]
    assert _search(db, "ПРОТОКОЛ") == [(other["sha256"], 1, "ocr")]


def test_without_tesseract_prov_says_once_how_to_install_it_and_registers_all(
        db, pages, monkeypatch) -> None:
    monkeypatch.setenv("PROV_TESSERACT", str(db.parent / "no-such-tesseract"))
    run = invoke(db, "add", str(pages["korean"]), str(pages["english"]), str(pages["scanned"]),
                 "--kind", "scan", "--json")
    assert run.exit_code == 0, run.stderr
    assert [r["status"] for r in run.json()] == ["new", "new", "new"]
    assert run.stderr.count("Tesseract is not installed") == 1
    assert "apt-get install tesseract-ocr tesseract-ocr-eng tesseract-ocr-rus" in run.stderr


def test_a_page_tesseract_times_out_on_is_registered_with_a_warning(db, pages, tmp_path) -> None:
    from PIL import Image

    # A large, dense page: many seconds of OCR, against a limit of one.
    page = Image.open(pages["russian"])
    # 4 x 4 copies: well over a second of OCR even on a fast, quiet machine.
    big = Image.new("RGB", (page.width * 4, page.height * 4), "white")
    for x in range(0, 4 * page.width, page.width):
        for y in range(0, 4 * page.height, page.height):
            big.paste(page, (x, y))
    path = tmp_path / "dense.png"
    big.save(path)
    run = invoke(db, "add", str(path), "--kind", "scan", "--ocr-timeout", "1", "--json")
    assert run.exit_code == 0, run.stderr
    assert "took longer than 1 s" in run.stderr and "--ocr-timeout" in run.stderr
    sha = run.json()[0]["sha256"]
    events = invoke(db, "log", sha, "--json", check=True).json()
    [ocr] = [e for e in events if e["type"] == "ocr.recorded"]
    assert ocr["data"]["pages"] == [] and "page 1" in ocr["data"]["skipped"][0]


def test_an_encrypted_pdf_is_registered_without_text_and_says_why(db, pages, tmp_path) -> None:
    from fixtures import documents

    locked = documents.write_encrypted(pages["pdf"], tmp_path / "locked.pdf")
    run = invoke(db, "add", str(locked), "--json")
    assert run.exit_code == 0 and run.json()[0]["status"] == "new"
    assert "without the password" in run.stderr
    assert invoke(db, "show", run.json()[0]["sha256"], "--json").json()["page_text"] == []


def test_the_ocr_page_limit_is_an_option(db, pages) -> None:
    run = invoke(db, "add", str(pages["scanned"]), "--ocr-pages", "1", "--json")
    assert run.exit_code == 0
    assert "OCR'd 1 of 4 pages that need it (limit 1; --ocr-pages raises it)" in run.stderr
    doc = invoke(db, "show", run.json()[0]["sha256"], "--json").json()
    assert [p["page"] for p in doc["page_text"]] == [1]


def test_page_text_events_travel_in_a_bundle(pages, tmp_path) -> None:
    source, target = tmp_path / "a" / "evidence.db", tmp_path / "b" / "evidence.db"
    for db in (source, target):
        db.parent.mkdir()
        invoke(db, "init", check=True)
    sha = invoke(source, "add", str(pages["pdf"]), "--case", "C", "--json",
                 check=True).json()[0]["sha256"]
    bundle = tmp_path / "c.zip"
    invoke(source, "bundle", "--case", "C", "--out", str(bundle), check=True)
    invoke(target, "import", str(bundle), "--unsigned", check=True)
    assert _search(target, "CONVOY") == [(sha, 4, "text-layer")]
    assert invoke(target, "verify", "--json", check=True).json()["ok"] is True
