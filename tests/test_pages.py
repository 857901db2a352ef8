"""Photographed pages (issue 18): a phone photo names its document and page; two filled-in
copies of one blank form are never linked as the same page."""

from __future__ import annotations

import shutil
from typing import Any

import pytest

from fixtures import photographed as ph

from .conftest import invoke

pytestmark = pytest.mark.skipif(shutil.which("tesseract") is None,
                                reason="Tesseract is not installed (.ci/run installs it)")


@pytest.fixture(scope="module")
def forms(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    d = tmp_path_factory.mktemp("forms")
    a, b = ph.filled_form(d / "form_a.pdf", 1), ph.filled_form(d / "form_b.pdf", 2)
    db = d / "evidence.db"
    invoke(db, "init", check=True)
    added = invoke(db, "add", str(a), str(b), "--json", check=True).json()
    photos = {}
    for name, pdf, seed in (("a_thumb", a, 11), ("a_shadow", a, 12), ("b_thumb", b, 13)):
        photos[name] = d / f"{name}.jpg"
        photos[name].write_bytes(ph.photograph(ph.page_picture(pdf, 1), seed))
    return {"db": db, "a": added[0], "b": added[1], "photos": photos}


def _links(matches: list[dict[str, Any]]) -> set[tuple[str, Any]]:
    return {(m["sha256"], m.get("page")) for m in matches if m["verdict"] == "re-upload"}


@pytest.mark.parametrize(("photo", "copy"), [("a_thumb", "a"), ("a_shadow", "a"),
                                             ("b_thumb", "b")])
def test_a_phone_photo_of_a_page_names_its_document_and_page(forms, photo, copy) -> None:
    found = invoke(forms["db"], "match", str(forms["photos"][photo]), "--json", check=True)
    links = _links(found.json()["matches"])
    # Its own copy's page 1, and never the other filled-in copy of the same form.
    assert links == {(forms[copy]["sha256"], 1)}, found.json()["matches"]
    [best] = [m for m in found.json()["matches"] if m["verdict"] == "re-upload"]
    assert best["algorithm"] == "page-text" and best["detail"]["text_recall"] >= 0.85


def test_registering_the_photo_records_the_link_and_the_text_it_read(forms, tmp_path) -> None:
    db = tmp_path / "evidence.db"
    invoke(db, "init", check=True)
    a = forms["photos"]["a_thumb"].parent / "form_a.pdf"
    held = invoke(db, "add", str(a), "--json", check=True).json()[0]["sha256"]
    run = invoke(db, "add", str(forms["photos"]["a_thumb"]), "--json", check=True).json()[0]
    assert _links(run["matches"]) == {(held, 1)}
    shown = invoke(db, "show", run["sha256"], "--json", check=True).json()
    [reading] = [e for e in shown["events"] if e["type"] == "ocr.recorded"]
    assert "flattened" in reading["data"]["options"]
    # Its first reading named the page: it is not read a second time (the options would say).
    assert "binarized" not in reading["data"]["options"]
    assert any("55107" in p["text"] or "Гван" in p["text"] for p in shown["page_text"])


def test_two_filled_in_copies_of_one_form_are_not_linked_as_the_same_page(forms) -> None:
    shown = invoke(forms["db"], "show", forms["b"]["sha256"], "--json", check=True).json()
    assert all(r["counterpart"] != forms["a"]["sha256"] or r["verdict"] != "re-upload"
               for r in shown["near_duplicates"]), shown["near_duplicates"]
    assert not _links(forms["b"]["matches"])


@pytest.fixture(scope="module")
def sparse(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The four-language document (three lines a page) held, and photos of its Ukrainian
    page that Tesseract read as empty on the flattened sheet (bench/pages.py seeds)."""
    from fixtures import text_pages as tp

    d = tmp_path_factory.mktemp("sparse")
    pdf = tp.write_pdf(d / "four.pdf", list(tp.TEXTS))
    db = d / "evidence.db"
    invoke(db, "init", check=True)
    [held] = invoke(db, "add", str(pdf), "--json", check=True).json()
    photos = {}
    for seed in (19020, 19022):
        photos[seed] = d / f"ukr-{seed}.jpg"
        photos[seed].write_bytes(ph.photograph(ph.page_picture(pdf, 2), seed))
    return {"db": db, "held": held["sha256"], "photos": photos}


@pytest.mark.parametrize("seed", [19020, 19022])
def test_a_photo_of_a_page_of_three_lines_names_it(sparse, seed) -> None:
    found = invoke(sparse["db"], "match", str(sparse["photos"][seed]), "--json", check=True)
    assert _links(found.json()["matches"]) == {(sparse["held"], 2)}, found.json()["matches"]


def test_the_second_reading_of_a_sparse_sheet_is_recorded_as_such(sparse) -> None:
    run = invoke(sparse["db"], "add", str(sparse["photos"][19020]), "--json",
                 check=True).json()[0]
    assert _links(run["matches"]) == {(sparse["held"], 2)}
    shown = invoke(sparse["db"], "show", run["sha256"], "--json", check=True).json()
    [reading] = [e for e in shown["events"] if e["type"] == "ocr.recorded"]
    assert "binarized" in reading["data"]["options"]
    assert any("ПОВІДОМЛЕННЯ" in p["text"] for p in shown["page_text"])


def test_ocr_s_latin_lookalikes_and_dropped_hyphens_are_the_page_s_words() -> None:
    from provenance.matching import pages

    held = ("АНКЕТА РАЗМЕРОВ ОБМУНДИРОВАНИЯ Лист 2 из 3\n"
            "46-1 46-2 46-3 48-1 48-2 48-3 50-1 50-2 50-3 сантиметров")
    # As Tesseract read a photo of it: the heading in Latin letters, hyphens lost.
    read = "AHKETA PASMEPOB ОБМУНДИРОВАНИЯ Лист 2 из 3\n46-1 462 463 48-1 482 483 50-1 502 503"
    said = pages.agreement(read, held)
    assert said is not None and said.same_page, said
    # Numbers are still exact: another chart's numbers are extra words.
    other = pages.agreement(read.replace("462 463", "472 473").replace("482", "492"), held)
    assert other is not None and other.extra > 0
    assert not pages.readable("bsb") and not pages.readable("sss")
    assert pages.readable("cat") and pages.readable("ли")


@pytest.fixture(scope="module")
def shaded_form(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Three filled-in copies of the form held, and a photo of the second (bench/pages.py's
    form01, seed 1011) under a shadow. Before the sheet's light was taken by a closing
    (matching/pages.py), its sheet read in grey gave 37 words naming no page, and it was named
    only by its second reading, in black and white; now its first reading names it."""
    d = tmp_path_factory.mktemp("shaded")
    copies = [ph.filled_form(d / f"form{n:02d}.pdf", n) for n in range(3)]
    db = d / "evidence.db"
    invoke(db, "init", check=True)
    added = invoke(db, "add", *map(str, copies), "--json", check=True).json()
    photo = d / "form01-1011.jpg"
    photo.write_bytes(ph.photograph(ph.page_picture(copies[1], 1), 1011))
    return {"db": db, "copies": [a["sha256"] for a in added], "photo": photo}


def test_a_form_under_a_shadow_names_its_own_copy_and_no_other(shaded_form) -> None:
    found = invoke(shaded_form["db"], "match", str(shaded_form["photo"]), "--json",
                   check=True).json()
    # Its own copy's page, and neither of the other two filled-in copies.
    assert _links(found["matches"]) == {(shaded_form["copies"][1], 1)}, found["matches"]


def test_the_reading_that_named_the_page_is_recorded_as_such(shaded_form) -> None:
    db = shaded_form["db"]
    run = invoke(db, "add", str(shaded_form["photo"]), "--json", check=True).json()[0]
    assert _links(run["matches"]) == {(shaded_form["copies"][1], 1)}, run["matches"]
    shown = invoke(db, "show", run["sha256"], "--json", check=True).json()
    [reading] = [e for e in shown["events"] if e["type"] == "ocr.recorded"]
    # The first reading named the page: no second reading, and the options say none was made.
    assert "flattened" in reading["data"]["options"]
    assert "binarized" not in reading["data"]["options"]


def test_a_sheet_whose_first_reading_names_no_page_is_read_again_in_black_and_white(
        shaded_form) -> None:
    """`read_again` given a first reading of the sheet that named no page (words of no held
    page, as a poor reading under a shadow gave): the sheet is read again in black and white,
    and that reading, naming the copy, replaces it, the options saying why."""
    import hashlib

    from provenance.ingest import pagematch, reading
    from provenance.ledger.db import open_db
    from provenance.matching import pages
    from provenance.media import ocr

    engine = ocr.engine()
    plan = reading.Plan(engine)
    data = shaded_form["photo"].read_bytes()
    misread = " ".join(["печать", "штамп", "конверт", "почта", "адрес", "получатель",
                        "отправитель", "марка", "письмо", "дорога", "погода", "ветер",
                        "солнце", "облако", "река", "берег", "лодка", "весло", "рыба",
                        "сеть", "камень", "песок"])
    first = ocr.Reading("ocr", ocr.ENGINE, engine.version, list(engine.languages),
                        [ocr.PageText(1, misread)]).to_event()
    first["options"] = f"{first['options']}; {reading.SHEET}"
    assert not reading.read_twice(first)  # 22 words: not a sparse sheet read twice already
    conn = open_db(shaded_form["db"])
    try:
        [out] = pagematch.read_again(conn, "image", str(shaded_form["photo"]),
                                     hashlib.sha256(data).hexdigest(),
                                     [{"type": "ocr.recorded", "data": first}], plan,
                                     exclude=None)
        assert "binarized" in out["data"]["options"]
        assert "the first reading named no page" in out["data"]["options"]
        named = pages.find_pages(conn, out["data"]["pages"][0]["text"])
    finally:
        conn.close()
    assert [(sha, page) for sha, page, _ in named] == [(shaded_form["copies"][1], 1)]
